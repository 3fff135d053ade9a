"""One processor cycle over N running jobs, on PostgreSQL, against two cluster peers with added latency.

    python -m benchmarks.cycle_scale [--jobs 100 1000 10000] [--peer both|simulator|plain] [--profile]

For each peer and each N (setup not timed): a scratch database with N running jobs (one bulk
INSERT), the peer as its own process with N jobs and 50 ms added to every status answer, one
warm-up cycle. Peers:
- simulator: our asyncio simulated cluster (simulator/), jobs submitted through its API;
- plain: benchmarks/plain_cluster.py, a stdlib ThreadingHTTPServer that closes every connection
  (the stdlib default), as a cluster written without asyncio does.
Jobs log a point every 9 steps; cycles start one 30 s interval apart in real time (as the scheduler
runs them), so each job brings ~17 new points per cycle. Then it times `run_cycle` (wall, and CPU
seconds of this process: the poll sweep and ingestion both run here) and, for the naive baseline in
the same run, the same cycle done one job at a time with the ORM, on a sample, scaled up.
The floor is N x latency / in-flight limit (POLL_CONCURRENCY). Targets: 1,000 jobs <= 1 s,
10,000 jobs <= 5 s.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks import plain_cluster
from benchmarks.poll_concurrency import ROOT, _cpu_seconds, _wait_for, dataset_server, simulator_subprocess
from benchmarks.scratch_db import scratch_database
from catalog.base_models import BASE_MODELS
from contract.results import JobStatusReport, SubmitRequest
from db.base import utcnow
from db.models import Dataset, JobStatus, MetricPoint, TrainingJob, User
from db.session import make_session_factory
from jobs.cluster import ClusterClient
from jobs.cycle import CycleSummary, run_cycle
from services.ingest import accrued_cost
from services.job_timing import startup_seconds
from settings import Settings
from simulator.state import SAVE_SECONDS
from tests.ports import free_port

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
# 30 s interval. The plain peer runs the same schedule.
HYPERPARAMETERS = {"batch_size": 8, "epochs": 100, "learning_rate": 2e-4, "logging_steps": 9}
TARGETS = {1000: 1.0, 10000: 5.0}


@dataclass
class Run:
    """One measured cycle and its baseline, for the closing table."""

    peer: str
    jobs: int
    summary: CycleSummary
    cpu_seconds: float
    peer_cpu_seconds: float
    new_points: int
    floor: float
    sequential: float


def submit_to_simulator(url: str, dataset_url: str, count: int) -> list[tuple[uuid.UUID, str]]:
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


@contextmanager
def simulator_peer(jobs: int, latency_ms: float) -> Iterator[tuple[str, int, list[tuple[uuid.UUID, str]]]]:
    """(url, pid, submitted jobs) of the simulator, training begun, latency added."""
    with dataset_server(rows=640) as dataset_url, simulator_subprocess(TIME_SCALE) as (url, pid):
        submitted = submit_to_simulator(url, dataset_url, jobs)
        httpx.post(
            f"{url}/_sim/faults",
            json={"latency_ms": latency_ms},
            headers={"Authorization": f"Bearer {API_KEY}"},
        ).raise_for_status()
        time.sleep(STARTUP_SECONDS)  # training has begun on the cluster
        yield url, pid, submitted


@contextmanager
def plain_peer(
    jobs: int, latency_ms: float, keep_alive: bool
) -> Iterator[tuple[str, int, list[tuple[uuid.UUID, str]]]]:
    """(url, pid, jobs) of benchmarks/plain_cluster.py in its own process."""
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.plain_cluster", "--port", str(port), "--jobs", str(jobs)]
    command += ["--latency-ms", str(latency_ms)] + (["--keep-alive"] if keep_alive else [])
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(f"{url}/health")
        yield url, process.pid, [(uuid.uuid4(), f"{plain_cluster.PREFIX}{i}") for i in range(jobs)]
    finally:
        process.terminate()
        process.wait(timeout=10)


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


def measure(peer: str, jobs: int, args: argparse.Namespace) -> Run:
    """Set up one peer and database with `jobs` running jobs; time one cycle and the baseline."""
    print(f"\n[{peer}, {jobs:,} jobs] setting up ...", flush=True)
    started_setup = time.perf_counter()
    peer_context = (
        simulator_peer(jobs, args.latency_ms)
        if peer == "simulator"
        else plain_peer(jobs, args.latency_ms, args.keep_alive)
    )
    with peer_context as (url, pid, submitted), scratch_database() as (db_url, engine):
        insert_running_jobs(engine, submitted)
        print(f"  setup {time.perf_counter() - started_setup:.1f} s", flush=True)
        env = {"DATABASE_URL": db_url, "SECRET_KEY": "b" * 32, "GPU_CLUSTER_API_URL": url}
        env |= {"GPU_CLUSTER_API_KEY": API_KEY}
        if args.concurrency:
            env["POLL_CONCURRENCY"] = str(args.concurrency)
        settings = Settings.from_env(env)
        sessions = make_session_factory(engine)
        # Cycles start one interval apart, start to start, as the scheduler enqueues them.
        warm_started = time.monotonic()
        warm = run_cycle(settings, sessions=sessions)
        print(f"  warm-up: {warm.line()}", flush=True)
        time.sleep(max(0.0, warm_started + args.interval - time.monotonic()))
        measured_started = time.monotonic()
        before, peer_cpu = count_points(engine), _cpu_seconds(pid)
        profiler = cProfile.Profile() if args.profile else None
        cpu = time.process_time()
        if profiler is not None:
            profiler.enable()
        summary = run_cycle(settings, sessions=sessions)
        if profiler is not None:
            profiler.disable()
        cpu = time.process_time() - cpu
        peer_cpu = _cpu_seconds(pid) - peer_cpu
        new_points = count_points(engine) - before
        print(f"  measured: {summary.line()}; CPU {cpu:.2f} s here, {peer_cpu:.2f} s in the peer", flush=True)
        if profiler is not None:
            print_profile(profiler, args.profile_lines)

        time.sleep(max(0.0, measured_started + args.interval - time.monotonic()))
        sample = [job_id for job_id, _ in submitted[: min(args.sequential_sample, jobs)]]
        with ClusterClient(url, API_KEY) as client:
            seq_seconds, seq_points = sequential_cycle(sessions, client, sample)
        print(
            f"  sequential: {seq_seconds:.2f} s on {len(sample)} jobs "
            f"({seq_points / len(sample):.1f} points each), x{jobs / len(sample):g}",
            flush=True,
        )
    floor = jobs * args.latency_ms / 1000 / settings.poll_concurrency
    return Run(peer, jobs, summary, cpu, peer_cpu, new_points, floor, seq_seconds * jobs / len(sample))


def print_profile(profiler: cProfile.Profile, lines: int) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(lines)
        text = out.getvalue()
        print(f"  --- profile of the measured cycle, by {order} ---")
        print(text[text.find("   ncalls") :].rstrip())


def print_table(runs: list[Run], args: argparse.Namespace) -> None:
    print(
        f"\none cycle over N running jobs, {args.latency_ms:g} ms latency per status call, PostgreSQL, "
        f"{os.cpu_count()} cores; plain peer keep-alive: {'on' if args.keep_alive else 'off (stdlib default)'}"
    )
    head = ("peer", "jobs", "cycle s", "CPU s", "peer CPU s", "points", "floor s", "naive s", "x", "target")
    print("{:<10}{:>7}{:>9}{:>8}{:>12}{:>9}{:>9}{:>10}{:>7}  {}".format(*head))
    for run in runs:
        target = TARGETS.get(run.jobs)
        verdict = (
            ""
            if target is None
            else f"<= {target:g} s " + ("MET" if run.summary.seconds <= target else "MISSED")
        )
        print(
            f"{run.peer:<10}{run.jobs:>7,}{run.summary.seconds:>9.2f}{run.cpu_seconds:>8.2f}"
            f"{run.peer_cpu_seconds:>12.2f}{run.new_points:>9,}{run.floor:>9.2f}{run.sequential:>10.1f}"
            f"{run.sequential / run.summary.seconds:>6.0f}x  {verdict}"
        )
        if run.summary.errors:
            print(f"{'':<10}  errors in the measured cycle: {run.summary.errors}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--peer", choices=["both", "simulator", "plain"], default="both")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between cycle starts")
    parser.add_argument("--sequential-sample", type=int, default=100, help="jobs timed for the baseline")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="POLL_CONCURRENCY (default: the setting's)"
    )
    parser.add_argument(
        "--keep-alive", action="store_true", help="the plain peer answers HTTP/1.1 keep-alive"
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each measured cycle")
    parser.add_argument("--profile-lines", type=int, default=20)
    args = parser.parse_args(argv)
    peers = ["simulator", "plain"] if args.peer == "both" else [args.peer]
    runs = [measure(peer, jobs, args) for peer in peers for jobs in args.jobs]
    print_table(runs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
