"""GET /api/jobs/<id> on PostgreSQL for jobs of 10k, 100k, 1M and 10M stored metric points.

Per size (compact `?format=columnar` form): cold p95 (no cached payload: served from the rollups),
warm p95 (the finished payload cached in Redis), `since_step` p50/p95 for the newest 100 points
(on the job detail and on `GET /api/jobs/<id>/metrics`, the job and its metrics only),
the body's bytes raw, gzipped and brotli-compressed (when `brotli` is importable), and in the same
run the naive baselines: the full scan of raw points into the same payload (the SQL bucketing
path that served cold requests before rollups) and every point as JSON. Points are seeded with
COPY in 1M-point chunks and their rollups built in bulk (benchmarks/seed_metrics.py).

Targets (issue 16): cold p95 ≤ 50 ms at 1M and ≤ 100 ms at 10M; ≤ 40 KB compressed; since_step
p95 ≤ 5 ms.

Run: `PIPELINE_BENCH_REDIS=redis://127.0.0.1:6379/<db> .venv/bin/python -m benchmarks.job_detail_scale
[--sizes 10000,100000,1000000,10000000] [--repeat 30]` (makes and drops its own database).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text

from api.runtime import Runtime
from app import create_app
from benchmarks.seed_metrics import copy_metric_points
from db.migrate import upgrade
from db.session import make_engine
from services.downsample import series_names
from services.metrics import load_metric_rows
from services.metrics_buckets import bucket_width, summary_buckets, summary_payload
from services.metrics_sql import summarize
from settings import Settings

PG_ADMIN_URL = os.environ.get("PIPELINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PIPELINE_BENCH_REDIS", "redis://127.0.0.1:6379/12")


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"pipeline_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result


def cpu_timed(call: Callable[[], Any]) -> tuple[float, float]:
    """Wall and this process's CPU ms of one call (PostgreSQL's work is in its own processes)."""
    cpu = time.process_time()
    ms = timed(call)[0]
    return ms, (time.process_time() - cpu) * 1000


def naive_full_dump(runtime: Runtime, job_id: uuid.UUID) -> tuple[float, int]:
    """The baseline: every stored point as a JSON object, no downsampling."""

    def dump() -> bytes:
        with runtime.transaction() as session:
            rows = load_metric_rows(session, job_id)
        keys = ("step", "timestamp", *series_names())
        return json.dumps([dict(zip(keys, row, strict=True)) for row in rows]).encode()

    ms, body = timed(dump)
    return ms, len(body)


def _setup(url: str) -> tuple[Runtime, Any, dict[str, str], Any]:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    settings = Settings.from_env(
        {"DATABASE_URL": url, "REDIS_URL": REDIS_URL, "SECRET_KEY": "bench-secret-key-0123456789abcdef"}
    )
    runtime = Runtime.create(settings)
    from services.accounts import create_user, issue_token
    from tests.factories import make_dataset

    with runtime.transaction() as session:
        user = create_user(session, "bench@example.com", "correct horse battery")
        dataset = make_dataset(session, user.id)
        token = issue_token(session, user.email)
        ids = (user.id, dataset.id)
    client = create_app(settings, runtime=runtime).server.test_client()
    return runtime, client, {"Authorization": f"Bearer {token}"}, ids


SEED_CHUNK = 1_000_000


def seed(runtime: Runtime, job_id: uuid.UUID, size: int) -> None:
    for first in range(1, size + 1, SEED_CHUNK):
        copy_metric_points(
            runtime.engine, job_id, min(SEED_CHUNK, size - first + 1), first_step=first, total=size
        )
    with runtime.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def full_scan_ms(runtime: Runtime, job_id: uuid.UUID, size: int) -> float:
    """The baseline: the same payload bucketed in SQL over every raw point (the pre-rollup cold path)."""

    def scan() -> object:
        with runtime.transaction() as session:
            width = bucket_width(1, size, summary_buckets(1000))
            return summary_payload(summarize(session, job_id, width, size), 1000, None)

    return timed(scan)[0]


def compressed(body: bytes) -> tuple[int, int | None]:
    try:
        import brotli  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return len(gzip.compress(body, 6)), None
    return len(gzip.compress(body, 6)), len(brotli.compress(body, quality=5))


def measure(
    runtime: Runtime, client: Any, headers: dict[str, str], ids: Any, size: int, repeat: int
) -> dict[str, Any]:
    from db.models import JobStatus
    from tests.factories import make_job

    with runtime.transaction() as session:
        job_id = make_job(session, ids[0], ids[1], status=JobStatus.RUNNING).id
    seed(runtime, job_id, size)
    url = f"/api/jobs/{job_id}?format=columnar"  # the compact form charts consume
    assert runtime.redis is not None

    def get(path: str) -> bytes:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.data[:300]
        return bytes(response.data)

    get(url)  # warms the pool and PostgreSQL's buffers
    cold: list[float] = []
    cold_cpu: list[float] = []
    for _ in range(repeat):
        runtime.redis.flushdb()
        ms, cpu = cpu_timed(lambda: get(url))
        cold.append(ms)
        cold_cpu.append(cpu)
    warm = [timed(lambda: get(url))[0] for _ in range(repeat)]
    body = get(url)
    metrics = json.loads(body)["data"]["metrics"]
    since_path = f"{url}&since_step={size - 100}"
    since_runs = [cpu_timed(lambda: get(since_path)) for _ in range(repeat)]
    since = [ms for ms, _ in since_runs]
    since_points = json.loads(get(since_path))["data"]["metrics"]["total_points"]
    light_path = f"/api/jobs/{job_id}/metrics?format=columnar&since_step={size - 100}"
    light = [timed(lambda: get(light_path))[0] for _ in range(repeat)]
    gz, br = compressed(body)
    naive_ms, naive_bytes = naive_full_dump(runtime, job_id) if size <= 1_000_000 else (math.nan, 0)
    return {
        "points": size,
        "bytes": len(body),
        "gzip": gz,
        "brotli": br,
        "payload_points": sum(len(series["step"]) for series in metrics["series"].values()),
        "last_kept": metrics["series"]["training_loss"]["step"][-1] == size,
        "cold_p50_ms": statistics.median(cold),
        "cold_p95_ms": p95(cold),
        "cold_cpu_ms": statistics.median(cold_cpu),
        "since_cpu_ms": statistics.median(cpu for _, cpu in since_runs),
        "warm_p95_ms": p95(warm),
        "since_p50_ms": statistics.median(since),
        "since_p95_ms": p95(since),
        "since_points": since_points,
        "light_p50_ms": statistics.median(light),
        "light_p95_ms": p95(light),
        "scan_ms": full_scan_ms(runtime, job_id, size),
        "naive_ms": naive_ms,
        "naive_bytes": naive_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000,10000000")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with scratch_database() as url:
        runtime, client, headers, ids = _setup(url)
        try:
            results = [measure(runtime, client, headers, ids, size, args.repeat) for size in sizes]
        finally:
            assert runtime.redis is not None
            runtime.redis.flushdb()
            runtime.engine.dispose()
    print(
        f"{'points':>10} {'cold p50':>9} {'cold p95':>9} {'cold CPU':>8} {'since CPU':>9} {'warm p95':>9} {'since p50':>9} {'since p95':>9} {'metrics p50':>11} {'metrics p95':>11} {'KB':>6} "
        f"{'gzip KB':>8} {'br KB':>6} {'shown':>6} {'last':>5} {'full scan ms':>12} {'scan/cold':>9} {'JSON dump ms':>12}"
    )
    for r in results:
        br = "-" if r["brotli"] is None else f"{r['brotli'] / 1024:.1f}"
        print(
            f"{r['points']:>10,} {r['cold_p50_ms']:>9.1f} {r['cold_p95_ms']:>9.1f} {r['cold_cpu_ms']:>8.1f} "
            f"{r['since_cpu_ms']:>9.1f} {r['warm_p95_ms']:>9.1f} {r['since_p50_ms']:>9.1f} "
            f"{r['since_p95_ms']:>9.1f} {r['light_p50_ms']:>11.1f} {r['light_p95_ms']:>11.1f} {r['bytes'] / 1024:>6.1f} {r['gzip'] / 1024:>8.1f} {br:>6} "
            f"{r['payload_points']:>6} {r['last_kept']!s:>5} {r['scan_ms']:>12.0f} "
            f"{r['scan_ms'] / r['cold_p95_ms']:>9.1f} {r['naive_ms']:>12.0f}"
        )
    print("CPU = median ms of this process's CPU per request (the app's Python; PostgreSQL not included).")
    print(f"since_step returned {results[-1]['since_points']} points (newest 100 requested); metrics = the")
    print("same since_step on GET /api/jobs/<id>/metrics (the job and its metrics only).")
    print("cold = payload cache flushed before each request (served from rollups); full scan = the same")
    print("payload bucketed in SQL over every raw point (the pre-rollup cold path), in this run.")


if __name__ == "__main__":
    main()
