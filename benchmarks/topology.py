"""The production topology for a benchmark: every role as a real process on loopback, one environment.

benchmarks/topology_load.py and benchmarks/load_dashboard.py start `web`, `worker`, `scheduler` and
`cluster-sim` with tests/e2e/processes.py against a scratch database; this is the environment they
all read, so both measure the same configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

CLUSTER_KEY = "benchmark-cluster-key-0123456789"


def benchmark_redis_url(default_db: int) -> str:
    """REDIS_URL, else logical DB PIPELINE_TEST_REDIS_DB (or `default_db`) on 127.0.0.1:6379."""
    database = os.environ.get("PIPELINE_TEST_REDIS_DB", str(default_db))
    return os.environ.get("REDIS_URL") or f"redis://127.0.0.1:6379/{database}"


def topology_env(
    *,
    database_url: str,
    redis_url: str,
    secret_key: str,
    cluster_port: int,
    dataset_url: str,
    cycle_interval: float,
    submit_batch: int,
    data_dir: Path,
    **extra: str,
) -> dict[str, str]:
    """What every role reads; `submit_batch` above the product's 5 brings many jobs up in one cycle."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secret_key,
        "GPU_CLUSTER_API_URL": f"http://127.0.0.1:{cluster_port}",
        "GPU_CLUSTER_API_KEY": CLUSTER_KEY,
        "PUBLIC_BASE_URL": dataset_url,
        "CYCLE_INTERVAL_SECONDS": str(cycle_interval),
        "SUBMIT_BATCH_SIZE": str(submit_batch),
        "DATA_DIR": str(data_dir),
        **extra,
    }
