"""Does the processor slow the web process down? `GET /api/jobs/<id>` throughput, idle vs. cycling.

Starts the production topology as real processes on loopback (`lora-pipeline web` with gunicorn,
`worker`, `scheduler`, `cluster-sim`) against a scratch PostgreSQL database and Redis, brings N jobs
to `running`, then measures the same bounded load twice: with the worker and scheduler stopped
(idle: the baseline) and with them running cycles every CYCLE_INTERVAL_SECONDS over all N jobs.
Prints requests/s, p50/p95/p99 latency and errors for each phase and the ratio cycling / idle.

    python -m benchmarks.topology_load [--jobs 200] [--seconds 10] [--concurrency 8] [--interval 2]

Redis: REDIS_URL, else logical DB PIPELINE_TEST_REDIS_DB (default 14) on 127.0.0.1:6379, flushed.
On the shared 2-core machine the load generator competes with the servers for CPU: compare the two
phases of one run, not runs with each other.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
from redis import Redis
from sqlalchemy import func, select

from benchmarks.scratch_db import scratch_database
from benchmarks.topology import benchmark_redis_url, cycles_in, log_sizes, percentile_ms, topology_env
from db.models import TrainingJob
from db.session import make_session_factory
from jobs.queue import LAST_CYCLE_KEY
from services.accounts import create_user, issue_token
from tests.cycle_harness import dataset_server_at
from tests.e2e.processes import Processes, wait_until
from tests.factories import make_dataset, make_job
from tests.ports import free_port

# Long jobs (100 epochs of 8 steps, ~4 min at time scale 1): they stay running for the whole run.
HYPERPARAMETERS = {"learning_rate": 2e-4, "batch_size": 8, "epochs": 100}


def load(base: str, token: str, job_ids: list[str], seconds: float, concurrency: int) -> dict[str, float]:
    """`concurrency` client threads, each requesting job details back to back for `seconds`."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        mine: list[float] = []
        failed = 0
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            turn = index
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    ok = http.get(f"/api/jobs/{job_ids[turn % len(job_ids)]}").status_code == 200
                except httpx.HTTPError:
                    ok = False
                mine.append(time.perf_counter() - started)
                failed += 0 if ok else 1
                turn += concurrency
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    ordered = sorted(latencies)

    return {
        "requests": len(ordered),
        "rps": len(ordered) / elapsed,
        "p50": statistics.median(ordered) * 1000 if ordered else float("nan"),
        "p95": percentile_ms(ordered, 0.95),
        "p99": percentile_ms(ordered, 0.99),
        "errors": errors[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--interval", type=float, default=2.0, help="CYCLE_INTERVAL_SECONDS")
    parser.add_argument("--web-workers", type=int, default=2)
    options = parser.parse_args()

    redis_url = benchmark_redis_url(14)
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    secret = secrets.token_hex(16)
    logs = Path(tempfile.mkdtemp(prefix="topology-load-"))
    with (
        scratch_database("pipeline_topology_load") as (db_url, engine),
        dataset_server_at(secret) as dataset_url,
    ):
        sessions = make_session_factory(engine)
        with sessions.begin() as session:
            user = create_user(session, "load@example.com", "correct horse battery")
            token = issue_token(session, "load@example.com", name="load")
            dataset = make_dataset(session, user.id)
            job_ids = [
                str(make_job(session, user.id, dataset.id, hyperparameters=HYPERPARAMETERS).id)
                for _ in range(options.jobs)
            ]
        sim_port, web_port = free_port(), free_port()
        env = topology_env(
            database_url=db_url,
            redis_url=redis_url,
            secret_key=secret,
            cluster_port=sim_port,
            dataset_url=dataset_url,
            cycle_interval=options.interval,
            submit_batch=options.jobs,
            data_dir=logs / "data",
        )
        base = f"http://127.0.0.1:{web_port}"
        processes = Processes(env, logs)
        processes.start("sim", "cluster-sim", "--port", str(sim_port), "--time-scale", "1", "--quiet")
        processes.start("web", "web", "--port", str(web_port), "--workers", str(options.web_workers))
        try:
            wait_until(
                lambda: httpx.get(f"{base}/api/health", timeout=2).status_code == 200, 60, "the web process"
            )

            def start_processor() -> None:
                processes.start("worker", "worker")
                processes.start("scheduler", "scheduler")

            def running() -> int:
                with sessions() as session:
                    return int(
                        session.scalar(
                            select(func.count())
                            .select_from(TrainingJob)
                            .where(TrainingJob.status == "running")
                        )
                        or 0
                    )

            start_processor()
            wait_until(lambda: running() == options.jobs, 180, f"{options.jobs} jobs to run")
            for name in ("scheduler", "worker"):
                processes.terminate(name)
            time.sleep(1.0)

            idle = load(base, token, job_ids, options.seconds, options.concurrency)
            redis.delete(LAST_CYCLE_KEY)
            start_processor()
            wait_until(lambda: bool(redis.exists(LAST_CYCLE_KEY)), 60, "the first cycle")
            offsets = log_sizes(logs, ["worker"])
            busy = load(base, token, job_ids, options.seconds, options.concurrency)
            last = json.loads(redis.get(LAST_CYCLE_KEY) or b"{}")
            cycles = len(cycles_in(logs, offsets))
        finally:
            processes.stop_all()

    print(
        f"topology load: {options.jobs} running jobs, {options.concurrency} client threads, "
        f"{options.seconds:.0f} s per phase, gunicorn {options.web_workers} workers x 4 threads, "
        f"cycle every {options.interval:.1f} s"
    )
    print(f"{'phase':<10}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, row in (("idle", idle), ("cycling", busy)):
        print(
            f"{name:<10}{row['requests']:>10.0f}{row['rps']:>9.1f}{row['p50']:>9.1f}"
            f"{row['p95']:>9.1f}{row['p99']:>9.1f}{row['errors']:>8.0f}"
        )
    print(
        f"cycling / idle throughput: {busy['rps'] / idle['rps']:.2f}x; p95 ratio {busy['p95'] / idle['p95']:.2f}x"
    )
    summary = {key: last.get(key) for key in ("polled", "points", "errors", "seconds")}
    print(f"cycles during the cycling phase: {cycles}; the last one: {summary}")
    shutil.rmtree(logs, ignore_errors=True)  # kept only when the run fails, for its process logs


if __name__ == "__main__":
    main()
