"""The production topology for a benchmark: every role as a real process on loopback, one environment.

benchmarks/topology_load.py and benchmarks/load_dashboard.py start `web`, `worker`, `scheduler` and
`cluster-sim` with tests/e2e/processes.py against a scratch database; this is the environment they
all read, so both measure the same configuration.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

CLUSTER_KEY = "benchmark-cluster-key-0123456789"
# The summary line a worker logs per cycle (jobs/cycle.CycleSummary.line, in the text log format).
CYCLE_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO jobs\.cycle: cycle (\S+): claimed \d+, submitted \d+, "
    r"polled (\d+), points (\d+), .*?([\d.]+) s",
    re.MULTILINE,
)


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


@dataclass
class Cycle:
    polled: int
    points: int
    seconds: float
    ended_at: float  # wall clock, from the worker's log line

    def overlaps(self, started_at: float, ended_at: float) -> bool:
        """Whether this cycle ran during [started_at, ended_at] (wall clock)."""
        return started_at < self.ended_at and ended_at > self.ended_at - self.seconds


def log_sizes(logs: Path, names: list[str]) -> dict[str, int]:
    """Bytes in each role's log so far: where `cycles_in` starts reading."""
    return {
        name: (logs / f"{name}.log").stat().st_size if (logs / f"{name}.log").exists() else 0
        for name in names
    }


def cycles_in(logs: Path, offsets: dict[str, int]) -> list[Cycle]:
    """The cycles the workers logged after `offsets` (bytes per log), each once."""
    found: dict[str, Cycle] = {}
    for name, offset in offsets.items():
        text = (logs / f"{name}.log").read_bytes()[offset:].decode(errors="replace")
        for match in CYCLE_LINE.finditer(text):
            ended = datetime.strptime(
                match.group(1), "%Y-%m-%d %H:%M:%S,%f"
            ).timestamp()  # local time, as logged
            found[match.group(2)] = Cycle(
                int(match.group(3)), int(match.group(4)), float(match.group(5)), ended
            )
    return list(found.values())


def percentile_ms(ordered: list[float], p: float) -> float:
    """The `p` quantile of sorted seconds, in ms (nan when empty)."""
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else float("nan")
