"""Signed-callback ingestion: throughput, and how soon a trainer's step is visible in the API.

    /work/venv/bin/python -m benchmarks.callback_ingest [--points 5000] [--naive-points 500] [--steps 300]

Runs the real app (PostgreSQL scratch database + Redis) behind werkzeug's threaded server on a
local port and talks to it over HTTP, as a trainer does. Prints:

1. Throughput, points/s: batches of 50 points per signed POST (what trainer/reporter.py sends),
   from one sender and from four concurrent senders (four trainers), against the naive baseline of
   one signed POST per point. Each request is verified, replay-checked, parsed by the cluster
   client's parser and ingested through jobs/ingest.ingest_status in its own transaction.
2. Visibility delay: the real trainer reporter (trainer/reporter.py, default 0.5 s flush) records a
   step every 30 ms (the tiny model's pace on one CPU core); a reader polls `GET /api/jobs/<id>`
   every 50 ms with an API token. Delay = first time the step is visible - time the step was
   recorded. Target: p95 <= 2 s.

Client, server and reader share one Python process (and GIL) on a small shared machine, so the
absolute figures are pessimistic; the ratio to the baseline in the same run is the comparison.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from werkzeug.serving import make_server

from api.callbacks_api import CALLBACK_PATH
from api.runtime import Runtime
from app import create_app
from benchmarks.scratch_db import scratch_database
from contract.signing import callback_headers, derive_job_secret
from db.base import utcnow
from db.models import Dataset, JobStatus, MetricPoint, TrainingJob
from db.session import make_session_factory
from services.accounts import create_user, issue_token
from settings import Settings
from trainer.reporter import StatusReporter

SECRET_KEY = "bench-secret-key-0123456789abcdef"
BATCH = 50
REDIS_URL = os.environ.get(
    "PIPELINE_BENCH_REDIS", f"redis://127.0.0.1:6379/{os.environ.get('PIPELINE_TEST_REDIS_DB', '14')}"
)


def metrics(step: int) -> dict[str, Any]:
    return {
        "step": step,
        "epoch": 1,
        "timestamp": utcnow().isoformat(),
        "training_loss": 2.0 / (1 + step / 50),
        "learning_rate": 2e-4,
        "gradient_norm": 1.1,
        "throughput": 3000.0,
        "gpu_utilization": None,
    }


def make_jobs(engine: Engine, count: int) -> tuple[list[uuid.UUID], str]:
    """`count` running jobs of one user, and an API token for that user."""
    email = f"bench-{uuid.uuid4().hex[:6]}@example.com"
    with make_session_factory(engine).begin() as session:
        user = create_user(session, email, "correct horse battery")
        dataset = Dataset(user_id=user.id, name="d", format="prompt_completion", storage_path="d.jsonl")
        session.add(dataset)
        session.flush()
        jobs = [
            TrainingJob(
                user_id=user.id,
                dataset_id=dataset.id,
                preset_id="balanced",
                status=JobStatus.RUNNING.value,
                gpu_config={"type": "A100-80GB", "count": 1},
                hyperparameters={"learning_rate": 2e-4, "batch_size": 8, "epochs": 1},
                total_steps=1_000_000,
                started_at=utcnow(),
                external_job_id=f"bench-{index}",
            )
            for index in range(count)
        ]
        session.add_all(jobs)
        session.flush()
        ids = [job.id for job in jobs]
    with make_session_factory(engine).begin() as session:
        token = issue_token(session, email, name="bench")
    return ids, token


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    runtime = Runtime.create(settings)
    app = create_app(settings, runtime=runtime)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        runtime.engine.dispose()


def post_points(base: str, job_id: uuid.UUID, steps: range, batch: int) -> None:
    """Signed POSTs of `steps` for one job, `batch` points per request, one request after another."""
    secret = derive_job_secret(SECRET_KEY, str(job_id))
    with httpx.Client(base_url=base, timeout=30) as client:
        for start in range(steps.start, steps.stop, batch):
            chunk = [metrics(step) for step in range(start, min(start + batch, steps.stop))]
            body = json.dumps(
                {
                    "job_id": str(job_id),
                    "status": "running",
                    "stage": "training",
                    "current_step": chunk[-1]["step"],
                    "metrics": chunk[-1],
                    "metrics_history": chunk,
                }
            ).encode()
            headers = {
                "Content-Type": "application/json",
                **callback_headers(secret, None, body, job_id=str(job_id)),
            }
            response = client.post(CALLBACK_PATH, content=body, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"callback refused: {response.status_code} {response.text[:200]}")


def stored(engine: Engine, job_ids: list[uuid.UUID]) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count()).select_from(MetricPoint).where(MetricPoint.job_id.in_(job_ids))
            )
            or 0
        )


def throughput(base: str, engine: Engine, job_ids: list[uuid.UUID], points: int, batch: int) -> float:
    """Points/s with one sender per job (all jobs at once); checks every point was stored."""
    per_job = points // len(job_ids)
    senders = [
        threading.Thread(target=post_points, args=(base, job_id, range(1, per_job + 1), batch))
        for job_id in job_ids
    ]
    started = time.perf_counter()
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    elapsed = time.perf_counter() - started
    count = stored(engine, job_ids)
    if count != per_job * len(job_ids):
        raise RuntimeError(f"expected {per_job * len(job_ids)} points stored, found {count}")
    return count / elapsed


def visibility(base: str, job_id: uuid.UUID, token: str, steps: int, step_seconds: float) -> list[float]:
    """Seconds from the reporter recording each step to `GET /api/jobs/<id>` showing it."""
    recorded: dict[int, float] = {}
    visible: dict[int, float] = {}
    done = threading.Event()

    def read() -> None:
        seen = 0
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            while not done.is_set() or seen < steps:
                answer = client.get(f"/api/jobs/{job_id}", params={"max_points": 100})
                answer.raise_for_status()
                current = answer.json()["data"]["job"]["current_step"] or 0
                now = time.perf_counter()
                for step in range(seen + 1, current + 1):
                    visible[step] = now
                seen = max(seen, current)
                if done.is_set() and seen >= steps:
                    return
                time.sleep(0.05)

    reader = threading.Thread(target=read)
    reader.start()
    with open(os.devnull, "w") as sink:
        reporter = StatusReporter(
            str(job_id), base + CALLBACK_PATH, derive_job_secret(SECRET_KEY, str(job_id)), stdout=sink
        )
        for step in range(1, steps + 1):
            recorded[step] = time.perf_counter()
            reporter.add_point(metrics(step), epoch=1, total_steps=steps * 10)
            time.sleep(step_seconds)
        done.set()
        reader.join(timeout=60)
        reporter.finish("completed")
    return [visible[step] - recorded[step] for step in range(1, steps + 1) if step in visible]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=5000, help="points for the batched runs")
    parser.add_argument("--naive-points", type=int, default=500, help="points for the one-per-request run")
    parser.add_argument("--steps", type=int, default=300, help="trainer steps for the visibility run")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    with scratch_database("pipeline_bench_callbacks") as (url, engine):
        settings = Settings.from_env(
            {
                "DATABASE_URL": url,
                "REDIS_URL": REDIS_URL,
                "SECRET_KEY": SECRET_KEY,
                "DATA_DIR": "/tmp/pl-bench",
            }
        )
        with serve(settings) as base:
            # Warm up (connections, first-request imports) outside the timings.
            [warm], _ = make_jobs(engine, 1)
            post_points(base, warm, range(1, 101), BATCH)

            [naive], _ = make_jobs(engine, 1)
            naive_rate = throughput(base, engine, [naive], args.naive_points, 1)
            [single], _ = make_jobs(engine, 1)
            batched_rate = throughput(base, engine, [single], args.points, BATCH)
            four, _ = make_jobs(engine, 4)
            concurrent_rate = throughput(base, engine, four, args.points, BATCH)
            [watched], token = make_jobs(engine, 1)
            delays = visibility(base, watched, token, args.steps, 0.03)

    print("callback ingestion (signed POST /api/training-callback over HTTP, PostgreSQL + Redis)")
    print(f"  naive: 1 point per request, 1 sender      {naive_rate:10.0f} points/s  (baseline)")
    print(
        f"  batches of {BATCH}, 1 sender                  {batched_rate:10.0f} points/s"
        f"  ({batched_rate / naive_rate:.1f}x baseline)"
    )
    print(
        f"  batches of {BATCH}, 4 concurrent senders      {concurrent_rate:10.0f} points/s"
        f"  ({concurrent_rate / naive_rate:.1f}x baseline)"
    )
    print(
        f"trainer step -> visible in GET /api/jobs/<id> (reporter flush 0.5 s, step every 30 ms, "
        f"read every 50 ms; {len(delays)}/{args.steps} steps seen)"
    )
    print(
        f"  median {statistics.median(delays):.3f} s   p95 {percentile(delays, 0.95):.3f} s   "
        f"max {max(delays):.3f} s   (target p95 <= 2 s: {'met' if percentile(delays, 0.95) <= 2 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
