"""One processor cycle over N running jobs, on PostgreSQL, against the simulator with added latency.

    /work/venv/bin/python -m benchmarks.cycle_scale [--jobs 1000] [--latency-ms 50] [--profile]

Setup (not timed): a scratch database, the simulated cluster as its own process, N jobs submitted
and marked running, one warm-up cycle. Jobs log a point every 3 steps, as a real trainer logs every
N steps; cycles start one simulated 30 s interval apart (start to start, as the scheduler runs
them, in real time), so each job brings tens of new points per cycle (printed). Then it times:
- `run_cycle` (the product): one query for the running jobs, poll_many, one COPY for all points,
  one UPDATE for all progress rows, a transaction only per finished job;
- the same cycle done sequentially (the naive baseline): per job, poll, then load the job with the
  ORM, add its points and update it in a transaction of its own (on a sample, scaled up).
Targets (issue 4): <= 3 s for 1,000 jobs, <= 10 s for 5,000.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.poll_concurrency import dataset_server, simulator_process
from benchmarks.scratch_db import scratch_database
from catalog.base_models import BASE_MODELS
from contract.results import JobStatusReport, SubmitRequest
from db.base import utcnow
from db.models import Dataset, JobStatus, MetricPoint, TrainingJob, User
from db.session import make_session_factory
from jobs.cluster import ClusterClient
from jobs.cycle import run_cycle
from services.ingest import accrued_cost
from services.job_timing import startup_seconds
from settings import Settings
from simulator.state import SAVE_SECONDS

API_KEY = "benchmark-cluster-key-0123456789"
# Real time on purpose: compressing time (say 10x) makes a slow cycle's *next* interval 10x longer
# in simulated training, so it would be measured with ever more points per job than production sees.
TIME_SCALE = 1.0
# The smallest catalogued model starts soonest: queue and model loading, the estimate's start-up
# less the final save (services/job_timing.py), then training has begun.
BASE_MODEL = "Qwen/Qwen2.5-0.5B"
STARTUP_SECONDS = startup_seconds(BASE_MODELS[BASE_MODEL]) - SAVE_SECONDS + 1.0
GPU = {"type": "A100-80GB", "count": 1}
# 640 rows / batch 8 = 80 steps per epoch; 100 epochs = 8,000 steps at the 0.2 s step floor
# (~27 simulated minutes); a point every 9 steps (1.8 simulated s), i.e. ~17 points per job per
# 30 s interval.
HYPERPARAMETERS = {"batch_size": 8, "epochs": 100, "learning_rate": 2e-4, "logging_steps": 9}


def submit_all(url: str, dataset_url: str, count: int) -> list[tuple[uuid.UUID, str]]:
    ids = [uuid.uuid4() for _ in range(count)]
    with ClusterClient(url, API_KEY) as client, ThreadPoolExecutor(16) as pool:
        externals = list(
            pool.map(
                lambda job_id: (
                    client.submit(
                        SubmitRequest(str(job_id), dataset_url, HYPERPARAMETERS, GPU, base_model=BASE_MODEL)
                    ).external_job_id
                ),
                ids,
            )
        )
    return list(zip(ids, externals, strict=True))


def insert_running_jobs(engine: Engine, submitted: list[tuple[uuid.UUID, str]]) -> None:
    now = utcnow()
    with make_session_factory(engine).begin() as session:
        user = User(email=f"bench-{uuid.uuid4().hex[:6]}@example.com", password_hash="x")
        session.add(user)
        session.flush()
        dataset = Dataset(user_id=user.id, name="d", format="jsonl", storage_path="d.jsonl")
        session.add(dataset)
        session.flush()
        session.execute(
            insert(TrainingJob),
            [
                {
                    "id": job_id,
                    "user_id": user.id,
                    "dataset_id": dataset.id,
                    "preset_id": "balanced",
                    "base_model": BASE_MODEL,
                    "hyperparameters": HYPERPARAMETERS,
                    "gpu_config": GPU,
                    "status": JobStatus.RUNNING.value,
                    "external_job_id": external,
                    "started_at": now,
                    "last_seen_at": now,
                    "total_epochs": 100,
                    "queued_at": now - timedelta(seconds=5),
                }
                for job_id, external in submitted
            ],
        )


def sequential_cycle(
    sessions: sessionmaker[Session], client: ClusterClient, job_ids: list[uuid.UUID]
) -> tuple[float, int]:
    """The naive cycle: one job at a time, one request, one ORM transaction each."""
    start = time.perf_counter()
    points = 0
    for job_id in job_ids:
        with sessions.begin() as session:
            job = session.get(TrainingJob, job_id)
            assert job is not None
            assert job.external_job_id
            last = session.scalar(select(func.max(MetricPoint.step)).where(MetricPoint.job_id == job_id))
            report: JobStatusReport = client.status(job.external_job_id, since_step=last or 0)
            now = utcnow()
            for point in report.metrics_history:
                session.add(
                    MetricPoint(
                        job_id=job_id,
                        step=point.step,
                        epoch=point.epoch,
                        timestamp=point.timestamp or now,
                        **point.metrics.as_dict(),
                    )
                )
                points += 1
            job.current_step = report.current_step or job.current_step
            job.progress = report.progress or job.progress
            job.current_metrics = report.metrics.as_dict()
            job.current_cost = accrued_cost(job.gpu_config, job.started_at, now)
            job.last_seen_at = now
    return time.perf_counter() - start, points


def count_points(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(MetricPoint)) or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between cycle starts")
    parser.add_argument("--sequential-sample", type=int, default=200, help="jobs timed for the baseline")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of the cycle")
    args = parser.parse_args(argv)

    with (
        dataset_server(rows=640) as dataset_url,
        simulator_process(time_scale=TIME_SCALE) as url,
        scratch_database() as (db_url, engine),
    ):
        print(f"submitting {args.jobs} jobs to the simulator ...", flush=True)
        submitted = submit_all(url, dataset_url, args.jobs)
        insert_running_jobs(engine, submitted)
        httpx.post(
            f"{url}/_sim/faults",
            json={"latency_ms": args.latency_ms},
            headers={"Authorization": f"Bearer {API_KEY}"},
        ).raise_for_status()
        settings = Settings.from_env(
            {
                "DATABASE_URL": db_url,
                "SECRET_KEY": "b" * 32,
                "GPU_CLUSTER_API_URL": url,
                "GPU_CLUSTER_API_KEY": API_KEY,
            }
        )
        sessions = make_session_factory(engine)
        time.sleep(STARTUP_SECONDS)  # training has begun on the cluster
        # Cycles start one interval apart, start to start, as the scheduler enqueues them.
        warm_started = time.monotonic()
        warm = run_cycle(settings, sessions=sessions)
        print(f"warm-up: {warm.line()}; next cycle {args.interval:g} s after it started", flush=True)
        time.sleep(max(0.0, warm_started + args.interval - time.monotonic()))
        measured_started = time.monotonic()
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001)
            profiler.start()
        before = count_points(engine)
        summary = run_cycle(settings, sessions=sessions)
        if profiler is not None:
            profiler.stop()
        new_points = count_points(engine) - before
        print(f"measured: {summary.line()}")

        time.sleep(max(0.0, measured_started + args.interval - time.monotonic()))
        sample = [job_id for job_id, _ in submitted[: args.sequential_sample]]
        with ClusterClient(url, API_KEY) as client:
            seq_seconds, seq_points = sequential_cycle(sessions, client, sample)
        scale = args.jobs / len(sample)
        sequential = seq_seconds * scale

        print(
            f"\none cycle over {args.jobs:,} running jobs, {args.latency_ms:g} ms latency per call, "
            f"PostgreSQL, {os.cpu_count()} cores"
        )
        print(f"  new points this cycle: {new_points:,} ({new_points / max(1, summary.polled):.1f} per job)")
        print(f"  run_cycle (bulk, concurrent):   {summary.seconds:8.2f} s   errors {summary.errors}")
        print(
            f"  sequential cycle (naive):       {sequential:8.2f} s   (measured {seq_seconds:.2f} s on "
            f"{len(sample)} jobs, {seq_points / len(sample):.1f} points each, x{scale:g})"
        )
        print(f"  speed-up: {sequential / summary.seconds:.1f}x")
        target = 3.0 if args.jobs <= 1000 else 10.0
        verdict = "MET" if summary.seconds <= target else "MISSED"
        print(f"  target <= {target:g} s for {args.jobs:,} jobs: {verdict}")
        if profiler is not None:
            print(profiler.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
