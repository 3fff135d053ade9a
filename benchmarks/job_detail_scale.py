"""GET /api/jobs/<id> on PostgreSQL for jobs with 10k, 100k and 1M stored metric points.

Prints, per size: the response size, the cold request (no cached summary: two SQL scans), the warm
p95 (summary cached in Redis), the p95 of a *running* job that gains a point before every request
(the summary absorbs only the newest rows), the p95 of `since_step` for the newest 100 points, and
the naive baseline in the same run: every point serialised as JSON (what the seed did). These are
for the compact `?format=columnar` form; then, per size, the default `rows` form (the
specification's point objects, the same kept points): how many rows, their size and warm p95.

Targets (issue 5): size(1M) / size(10k) ≤ 1.05, ≤ 150 KB; p95 ≤ 100 ms at 1M; since_step ≤ 10 ms.

Run: `python -m benchmarks.job_detail_scale [--sizes 10000,100000,1000000] [--repeat 30]`
(needs the PostgreSQL and Redis of the test setup; makes and drops its own database).
"""

from __future__ import annotations

import argparse
import json
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


def measure(
    runtime: Runtime, client: Any, headers: dict[str, str], ids: Any, size: int, repeat: int
) -> dict[str, Any]:
    from db.models import JobStatus
    from tests.factories import make_job

    with runtime.transaction() as session:
        job_id = make_job(session, ids[0], ids[1], status=JobStatus.RUNNING).id
    copy_metric_points(runtime.engine, job_id, size, total=size * 2)
    with runtime.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE lora_metrics_points")
        )
    url = f"/api/jobs/{job_id}?format=columnar"  # the compact form charts consume
    rows_url = f"/api/jobs/{job_id}"  # the specification's rows, the default
    assert runtime.redis is not None

    def get(path: str) -> bytes:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.data[:300]
        return bytes(response.data)

    metrics = json.loads(get(url))["data"]["metrics"]  # also warms the pool and PostgreSQL's buffers
    payload_points = sum(len(series["step"]) for series in metrics["series"].values())
    cold: list[float] = []
    for _ in range(3):
        runtime.redis.flushdb()
        cold.append(timed(lambda: get(url))[0])
    warm = [timed(lambda: get(url))[0] for _ in range(repeat)]
    size_bytes = len(get(url))
    running: list[float] = []
    for offset in range(repeat):
        copy_metric_points(runtime.engine, job_id, 1, first_step=size + 1 + offset, total=size * 2)
        running.append(timed(lambda: get(url))[0])
    last = size + repeat
    since_path = f"{url}&since_step={last - 100}"
    rows_body = json.loads(get(rows_url))["data"]
    rows_warm = [timed(lambda: get(rows_url))[0] for _ in range(repeat)]
    since = [timed(lambda: get(since_path))[0] for _ in range(repeat)]
    since_points = json.loads(get(since_path))["data"]["metrics"]["total_points"]
    naive_ms, naive_bytes = naive_full_dump(runtime, job_id)
    return {
        "points": size,
        "bytes": size_bytes,
        "payload_points": payload_points,
        "cold_ms": statistics.median(cold),
        "warm_p95_ms": p95(warm),
        "running_p95_ms": p95(running),
        "since_p95_ms": p95(since),
        "since_points": since_points,
        "naive_ms": naive_ms,
        "naive_bytes": naive_bytes,
        "rows": len(rows_body["metrics"]),
        "rows_bytes": len(get(rows_url)),
        "rows_p95_ms": p95(rows_warm),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
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
        f"{'points':>9} {'size KB':>8} {'shown':>6} {'B/shown':>7} {'cold ms':>8} {'warm p95':>9} {'running p95':>12} "
        f"{'since p95':>10} {'naive ms':>9} {'naive KB':>9} {'size ÷ naive':>12} {'cold × faster':>13}"
    )
    for r in results:
        print(
            f"{r['points']:>9,} {r['bytes'] / 1024:>8.1f} {r['payload_points']:>6} "
            f"{r['bytes'] / r['payload_points']:>7.1f} {r['cold_ms']:>8.1f} {r['warm_p95_ms']:>9.1f} "
            f"{r['running_p95_ms']:>12.1f} {r['since_p95_ms']:>10.1f} {r['naive_ms']:>9.0f} "
            f"{r['naive_bytes'] / 1024:>9.0f} {r['bytes'] / r['naive_bytes']:>12.4f} "
            f"{r['naive_ms'] / r['cold_ms']:>13.1f}"
        )
    print(f"since_step returned {results[-1]['since_points']} points (newest 100 requested)")
    print(
        f"\n{'points':>9} {'rows':>6} {'rows KB':>8} {'rows p95 ms':>12}   (default ?format=rows, same kept points)"
    )
    for r in results:
        print(f"{r['points']:>9,} {r['rows']:>6} {r['rows_bytes'] / 1024:>8.1f} {r['rows_p95_ms']:>12.1f}")
    print("shown = points across the six series in the response (validation loss is logged every")
    print("50 steps, so a 10k-step job has only 200 of it to show); B/shown grows only with digits.")
    if len(results) > 1:
        print(
            f"size ratio largest ÷ smallest: {results[-1]['bytes'] / results[0]['bytes']:.3f} (target ≤ 1.05)"
        )


if __name__ == "__main__":
    main()
