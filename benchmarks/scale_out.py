"""Several web and worker processes against one PostgreSQL and Redis: what each more process buys.

Starts the production roles as real processes on loopback (tests/e2e/processes.py) against a scratch
database, brings N long jobs to `running`, then measures:

1. web: `GET /api/jobs/<id>` with bearer tokens, requests/s and p95 for one gunicorn process (the
   baseline), two processes with the same total gunicorn workers (each request to the next process,
   no stickiness: what two hosts behind a round-robin balancer see), and two processes with twice
   the workers; and that a session cookie signed in on one process is accepted by the other;
2. workers: the cycles over all N jobs during a fixed window with one `worker` and with three, the
   scheduler enqueuing every INTERVAL: one cycle runs at a time (the Redis cycle lock), so more
   workers add standbys, not cycle throughput.

    python -m benchmarks.scale_out [--jobs 200] [--seconds 10] [--concurrency 8] [--interval 2]

Redis: REDIS_URL, else logical DB PIPELINE_TEST_REDIS_DB (default 13) on 127.0.0.1:6379, flushed.
On a 2-core machine every process shares the same two cores: the figures show what does not scale
(the cycle) and that nothing breaks across processes, not what two hosts would add.
"""

from __future__ import annotations

import argparse
import itertools
import secrets
import shutil
import signal
import statistics
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from redis import Redis
from sqlalchemy import func, select

from benchmarks.scratch_db import scratch_database
from benchmarks.topology import benchmark_redis_url, cycles_in, log_sizes, percentile_ms, topology_env
from db.models import TrainingJob
from db.session import make_session_factory
from services.accounts import create_user, issue_token
from tests.cycle_harness import dataset_server_at
from tests.e2e.processes import Processes, answers, wait_until
from tests.factories import make_dataset, make_job
from tests.ports import free_port

# As benchmarks/topology_load.py: 100 epochs of 8 steps; at half speed (~8 min) they outlast the run.
HYPERPARAMETERS = {"learning_rate": 2e-4, "batch_size": 8, "epochs": 100}
EMAIL, PASSWORD = "scale@example.com", "correct horse battery"


def load(
    bases: list[str], token: str, job_ids: list[str], seconds: float, concurrency: int
) -> dict[str, float]:
    """`concurrency` client threads requesting job details back to back for `seconds`; each request
    goes to the next of `bases` (round robin, no stickiness)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}

    def client(index: int) -> None:
        mine: list[float] = []
        failed = 0
        clients = [httpx.Client(base_url=base, headers=headers, timeout=30) for base in bases]
        turns = itertools.cycle(clients[index % len(clients) :] + clients[: index % len(clients)])
        turn = index
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                ok = next(turns).get(f"/api/jobs/{job_ids[turn % len(job_ids)]}").status_code == 200
            except httpx.HTTPError:
                ok = False
            mine.append(time.perf_counter() - started)
            failed += 0 if ok else 1
            turn += concurrency
        for http in clients:
            http.close()
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
        "rps": len(ordered) / elapsed,
        "p50": statistics.median(ordered) * 1000 if ordered else float("nan"),
        "p95": percentile_ms(ordered, 0.95),
        "errors": errors[0],
    }


def session_crosses_processes(first: str, second: str, job_id: str) -> bool:
    """Sign in on one web process, then read a job on the other with the same cookie."""
    with httpx.Client(base_url=first, timeout=10) as browser:
        browser.post("/login", data={"email": EMAIL, "password": PASSWORD}, headers={"Origin": first})
        cookies = browser.cookies
    with httpx.Client(base_url=second, cookies=cookies, timeout=10) as other:
        return other.get(f"/api/jobs/{job_id}").status_code == 200


def web_phases(
    processes: Processes, token: str, job_ids: list[str], options: Any
) -> list[tuple[str, dict[str, float]]]:
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]

    def start_web(workers: int, count: int) -> None:
        for i in range(count):
            processes.start(f"web{i}", "web", "--port", str(ports[i]), "--workers", str(workers))
        for base in bases[:count]:
            wait_until(partial(answers, f"{base}/api/health"), 60, "web")

    def stop_web(count: int) -> None:
        for i in range(count):
            processes.terminate(f"web{i}")

    rows = []
    shapes = [
        ("1 process x 2 workers", 2, 1),
        ("2 processes x 1 worker", 1, 2),
        ("2 processes x 2 workers", 2, 2),
    ]
    for label, workers, count in shapes:
        start_web(workers, count)
        load(bases[:count], token, job_ids, 2.0, options.concurrency)  # warm caches and connections
        rows.append((label, load(bases[:count], token, job_ids, options.seconds, options.concurrency)))
        if count == 2:
            rows[-1][1]["cookie_ok"] = float(session_crosses_processes(bases[0], bases[1], job_ids[0]))
        stop_web(count)
    return rows


def stop_together(processes: Processes, names: list[str]) -> None:
    """SIGTERM all at once, then wait: a worker first finishes its cycle, which takes a while under load."""
    for name in names:
        processes.running[name].send_signal(signal.SIGTERM)
    for name in names:
        processes.running[name].wait(timeout=180)


def worker_phases(processes: Processes, logs: Path, options: Any) -> list[tuple[int, dict[str, float]]]:
    rows = []
    for count in (1, 3):
        names = [f"worker{count}-{i}" for i in range(count)]
        for name in names:
            processes.start(name, "worker")
        processes.start(f"scheduler{count}", "scheduler")
        time.sleep(options.interval * 2)  # let the first cycles pass
        offsets = log_sizes(logs, names)
        time.sleep(options.window)
        cycles = cycles_in(logs, offsets)
        stop_together(processes, [*names, f"scheduler{count}"])
        seconds = sorted(c.seconds for c in cycles)
        ran_by = sum(1 for name in names if cycles_in(logs, {name: offsets[name]}))
        rows.append(
            (
                count,
                {
                    "cycles": float(len(cycles)),
                    "median_s": statistics.median(seconds) if seconds else float("nan"),
                    "max_s": max(seconds) if seconds else float("nan"),
                    "polled": float(statistics.median(c.polled for c in cycles)) if cycles else 0.0,
                    "workers_that_ran": float(ran_by),
                },
            )
        )
    return rows


def print_web(web: list[tuple[str, dict[str, float]]], options: Any) -> None:
    print(
        f"scale out: {options.jobs} running jobs, {options.concurrency} client threads, {options.seconds:.0f} s per web phase"
    )
    print(f"{'web':<26}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'errors':>7}  cookie from the other process")
    for label, row in web:
        cookie = {1.0: "accepted", 0.0: "REFUSED"}.get(row.get("cookie_ok", -1.0), "-")
        print(
            f"{label:<26}{row['rps']:>8.1f}{row['p50']:>8.1f}{row['p95']:>8.1f}{row['errors']:>7.0f}  {cookie}"
        )
    base = web[0][1]
    print(
        "ratio to one process: "
        + "; ".join(f"{label}: x{row['rps'] / base['rps']:.2f} req/s" for label, row in web[1:])
    )


def print_workers(workers: list[tuple[int, dict[str, float]]], options: Any) -> None:
    print(
        f"workers (cycle every {options.interval:g} s, {options.window:g} s window): cycles, median and max cycle s, jobs polled"
    )
    for count, row in workers:
        print(
            f"  {count} worker(s): {row['cycles']:.0f} cycles, median {row['median_s']:.2f} s, max {row['max_s']:.2f} s, "
            f"{row['polled']:.0f} polled; {row['workers_that_ran']:.0f} of them ran a cycle"
        )
    one, three = workers[0][1], workers[1][1]
    print(
        f"3 workers / 1 worker: cycles x{three['cycles'] / max(one['cycles'], 1):.2f}, median cycle x{three['median_s'] / one['median_s']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0, help="load per web phase")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--interval", type=float, default=2.0, help="CYCLE_INTERVAL_SECONDS")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of cycles per worker phase")
    options = parser.parse_args()

    redis_url = benchmark_redis_url(13)
    Redis.from_url(redis_url).flushdb()
    secret = secrets.token_hex(16)
    logs = Path(tempfile.mkdtemp(prefix="scale-out-"))
    with scratch_database("pipeline_scale_out") as (db_url, engine), dataset_server_at(secret) as dataset_url:
        sessions = make_session_factory(engine)
        with sessions.begin() as session:
            user = create_user(session, EMAIL, PASSWORD)
            token = issue_token(session, EMAIL, name="load")
            dataset = make_dataset(session, user.id)
            job_ids = [
                str(make_job(session, user.id, dataset.id, hyperparameters=HYPERPARAMETERS).id)
                for _ in range(options.jobs)
            ]
        sim_port = free_port()
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
        processes = Processes(env, logs)
        processes.start("sim", "cluster-sim", "--port", str(sim_port), "--time-scale", "0.5", "--quiet")

        def running() -> int:
            with sessions() as session:
                query = select(func.count()).select_from(TrainingJob).where(TrainingJob.status == "running")
                return int(session.scalar(query) or 0)

        try:
            processes.start("worker-setup", "worker")
            processes.start("scheduler-setup", "scheduler")
            wait_until(lambda: running() == options.jobs, 180, f"{options.jobs} jobs to run")
            stop_together(processes, ["scheduler-setup", "worker-setup"])
            web = web_phases(processes, token, job_ids, options)
            print_web(web, options)
            print_workers(worker_phases(processes, logs, options), options)
        finally:
            processes.stop_all()
    shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()
