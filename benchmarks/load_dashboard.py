"""100 users watching live jobs while the processor cycles over 1,000 of them: latency under load.

Starts the production topology as real processes on loopback, as docker-compose.yml runs it:
`lora-pipeline web` (gunicorn), two `worker`s, one `scheduler` and `cluster-sim` (time scale 1),
against a scratch PostgreSQL database and Redis. Creates USERS accounts owning JOBS jobs between
them and lets the processor bring every job to `running` (the jobs last ~16 min, longer than the
run). Then each simulated user signs in through /login, loads the Dash callback graph from
`/_dash-dependencies` and renders the monitor page of one of its running jobs, as the browser does,
and from then on polls every 5 s, on a fixed schedule from a random offset:

- the monitor tick: the POST /_dash-update-component the page's dcc.Interval fires, carrying the
  stores the previous answer returned (so each tick asks only for points past its cursor);
- GET /api/jobs/<id> with the user's API token (a script watching the same job).

Two phases, one run: first `--seconds` with the worker and scheduler running a cycle every
CYCLE_INTERVAL_SECONDS over all running jobs (steady state: they have been cycling since the jobs
came up), then `--baseline-seconds` with them stopped (the same users, no processor: the baseline). Latency is measured from each request's scheduled
instant, so a server that falls behind is charged for the wait too (no coordinated omission); the
time from sending alone is printed beside it. Errors: transport failures, timeouts (10 s), any
status but 200, a tick answer without the job's progress, an API answer for another job.

    python -m benchmarks.load_dashboard                      # the issue's run: 100 users, 1,000 jobs, 5 min
    python -m benchmarks.load_dashboard --users 10 --jobs 50 --baseline-seconds 10 --seconds 20

Targets (issue 7): p95 <= 200 ms and no errors for 5 minutes of cycling. Redis: REDIS_URL, else
logical DB PIPELINE_TEST_REDIS_DB (default 12) on 127.0.0.1:6379, flushed. The load generator runs
on the same 2 cores as everything it measures; compare the phases of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from redis import Redis
from sqlalchemy import func, select

from benchmarks.monitor_tick import STORES, Callbacks, callback_request, dependencies_map
from benchmarks.scratch_db import scratch_database
from benchmarks.topology import (
    Cycle,
    benchmark_redis_url,
    cycles_in,
    log_sizes,
    percentile_ms,
    topology_env,
)
from db.models import JobStatus, TrainingJob
from db.session import make_session_factory
from services.accounts import create_user, issue_token
from tests.cycle_harness import dataset_server_at
from tests.e2e.processes import Processes, descendants, wait_until
from tests.factories import make_dataset, make_job
from tests.ports import free_port

PASSWORD = "correct horse battery"
POLL_SECONDS = 5.0  # the monitor's dcc.Interval
REQUEST_TIMEOUT = 10.0
# 100 epochs (the contract's maximum) of 8 steps on one V100-32GB in the simulator: 0.75 steps/s,
# ~18 min, longer than the run; a metrics point every 2 steps (the simulator logs <= 500 per job).
HYPERPARAMETERS = {"learning_rate": 2e-4, "batch_size": 8, "epochs": 100, "rank": 16, "alpha": 32}
GPU = {"type": "V100-32GB", "count": 1}


@dataclass
class Sample:
    phase: str
    kind: str  # "tick" or "api"
    waited: float  # seconds from the scheduled instant to the last byte of the answer
    sent: float  # seconds from sending to the last byte
    ok: bool
    size: int
    sent_at: float  # wall clock, to tell whether a cycle was running meanwhile
    done_at: float


@dataclass
class Run:
    """What every simulated user records into; `phase` is read at each request's scheduled instant."""

    phase: str = "warm-up"
    stop_at: float = float("inf")
    samples: list[Sample] = field(default_factory=list)
    ticks_with_points: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # phase -> role -> CPU seconds

    def failed(self, why: str) -> None:
        self.failures[why] = self.failures.get(why, 0) + 1


@dataclass
class User:
    email: str
    token: str
    job_id: str
    http: aiohttp.ClientSession | None = None
    values: dict[str, Any] = field(default_factory=dict)


def seed(db_engine: Any, users: int, jobs: int) -> list[User]:
    """`users` accounts with a token each, owning `jobs` queued jobs round-robin; each user watches its first."""
    sessions = make_session_factory(db_engine)
    people: list[User] = []
    with sessions.begin() as session:
        accounts = []
        for n in range(users):
            email = f"watcher{n:03d}@example.com"
            user = create_user(session, email, PASSWORD)
            accounts.append(
                (user.id, email, issue_token(session, email, name="load"), make_dataset(session, user.id))
            )
        for n in range(jobs):
            user_id, email, token, dataset = accounts[n % users]
            job = make_job(
                session, user_id, dataset.id, hyperparameters=dict(HYPERPARAMETERS), gpu_config=dict(GPU)
            )
            if n < users:
                people.append(User(email=email, token=token, job_id=str(job.id)))
    return people


def running_jobs(db_engine: Any, *, training: bool = False) -> int:
    """Jobs running now (with `training`, past step 0: the cluster loads the model first); stops the
    run at once if any failed (a rejected submission, say)."""
    with make_session_factory(db_engine)() as session:
        failed = session.execute(
            select(TrainingJob.id, TrainingJob.error_message)
            .where(TrainingJob.status == JobStatus.FAILED)
            .limit(1)
        ).first()
        if failed is not None:  # a row, even when the job failed without a message
            raise SystemExit(
                f"job {failed.id} failed, so the run would not measure what it says: {failed.error_message}"
            )
        count = select(func.count()).select_from(TrainingJob).where(TrainingJob.status == JobStatus.RUNNING)
        if training:
            count = count.where(TrainingJob.current_step > 0)
        return int(session.scalar(count) or 0)


async def sign_in(base: str, user: User, connector: aiohttp.BaseConnector) -> None:
    """The browser's way in: the login form, then a session cookie in this user's own jar."""
    user.http = aiohttp.ClientSession(
        base_url=base,
        connector=connector,
        connector_owner=False,
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies from 127.0.0.1
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        headers={"Origin": base},
    )
    form = {"email": user.email, "password": PASSWORD, "next": f"/training/jobs/{user.job_id}"}
    async with user.http.post("/login", data=form, allow_redirects=False) as response:
        if response.status != 302:
            raise SystemExit(
                f"sign-in failed for {user.email}: {response.status} {(await response.text())[:200]}"
            )


async def post_callback(user: User, body: dict[str, Any]) -> tuple[int, bytes]:
    assert user.http is not None
    async with user.http.post("/_dash-update-component", json=body) as response:
        return response.status, await response.read()


def _keep_stores(user: User, answer: dict[str, Any]) -> None:
    for store in STORES:
        key = f"{store}.data"
        user.values[key] = answer.get("response", {}).get(store, {}).get("data", user.values.get(key))


async def open_monitor(user: User, callbacks: Callbacks) -> None:
    """The page's first render (both figures from history), keeping the stores the ticks carry."""
    user.values = {
        "mon-job-id.data": user.job_id,
        "mon-smoothing.value": 0.6,
        "mon-y-scale.value": "linear",
        "mon-x-axis.value": "step",
        "theme-store.data": "light",
        "mon-interval.n_intervals": 0,
    }
    status, body = await post_callback(user, callback_request(callbacks, "mon-job-id", "data", user.values))
    if status != 200:
        raise SystemExit(f"first render failed for {user.email}: {status} {body[:200]!r}")
    _keep_stores(user, json.loads(body))


async def tick(user: User, callbacks: Callbacks, run: Run) -> tuple[bool, int]:
    user.values["mon-interval.n_intervals"] += 1
    before = (user.values.get("mon-chart-state.data") or {}).get("last_step")
    status, body = await post_callback(
        user, callback_request(callbacks, "mon-interval", "n_intervals", user.values)
    )
    if status != 200:
        run.failed(f"tick HTTP {status}")
        return False, len(body)
    answer = json.loads(body)
    if "mon-pbar" not in answer.get("response", {}):  # every tick of a live job writes the progress bar
        run.failed("tick without the job's progress")
        return False, len(body)
    _keep_stores(user, answer)
    if run.phase == "cycling" and (user.values.get("mon-chart-state.data") or {}).get("last_step") != before:
        run.ticks_with_points += 1
    return True, len(body)


async def job_detail(user: User, run: Run) -> tuple[bool, int]:
    assert user.http is not None
    headers = {"Authorization": f"Bearer {user.token}"}
    async with user.http.get(f"/api/jobs/{user.job_id}", headers=headers) as response:
        body = await response.read()
    if response.status != 200:
        run.failed(f"api HTTP {response.status}")
        return False, len(body)
    if json.loads(body).get("data", {}).get("job", {}).get("id") != user.job_id:
        run.failed("api answered another job")
        return False, len(body)
    return True, len(body)


async def poll(kind: str, request: Callable[[], Awaitable[tuple[bool, int]]], run: Run) -> None:
    """One request every POLL_SECONDS on a fixed schedule from a random offset, until `run.stop_at`."""
    loop = asyncio.get_running_loop()
    due = loop.time() + random.uniform(0, POLL_SECONDS)
    while due < run.stop_at:
        await asyncio.sleep(max(0.0, due - loop.time()))
        phase, sent, sent_at = run.phase, loop.time(), time.time()
        try:
            ok, size = await request()
        except (TimeoutError, aiohttp.ClientError, json.JSONDecodeError) as error:
            run.failed(f"{kind} {type(error).__name__}")
            ok, size = False, 0
        done = loop.time()
        run.samples.append(Sample(phase, kind, done - due, done - sent, ok, size, sent_at, time.time()))
        due += POLL_SECONDS  # after a slow answer the next is already due: it waits, and is charged for it


def _cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and of the children it has reaped (Linux /proc), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def cpu_by_role(processes: Processes, workers: list[str]) -> dict[str, float]:
    """CPU seconds so far per role: each process tree (gunicorn's workers, RQ's work horses), the
    whole PostgreSQL server (other clients of it included) and this load generator."""

    def tree(name: str) -> float:
        process = processes.running.get(name)
        if process is None or process.poll() is not None:
            return 0.0
        return sum(_cpu_seconds(pid) for pid in [process.pid, *descendants(process.pid)])

    postgres = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _comm(entry) == "postgres"
    ]
    return {
        "web": tree("web"),
        "workers": sum(tree(name) for name in workers),
        "scheduler": tree("scheduler"),
        "cluster-sim": tree("sim"),
        "postgresql": sum(_cpu_seconds(pid) for pid in postgres),
        "load generator": _cpu_seconds(os.getpid()),
    }


def _comm(entry: Path) -> str:
    try:
        return (entry / "comm").read_text().strip()
    except OSError:
        return ""


def summarize(samples: list[Sample], seconds: float) -> dict[str, float]:
    waited = sorted(s.waited for s in samples)
    sent = sorted(s.sent for s in samples)
    return {
        "requests": len(samples),
        "rps": len(samples) / seconds if seconds else float("nan"),
        "p50": statistics.median(waited) * 1000 if waited else float("nan"),
        "p95": percentile_ms(waited, 0.95),
        "p99": percentile_ms(waited, 0.99),
        "max": waited[-1] * 1000 if waited else float("nan"),
        "sent_p95": percentile_ms(sent, 0.95),
        "kb": statistics.median(s.size for s in samples) / 1024 if samples else float("nan"),
        "errors": sum(not s.ok for s in samples),
    }


async def drive(
    base: str,
    people: list[User],
    phases: list[tuple[str, float, Callable[[], None]]],
    run: Run,
    cpu: Callable[[], dict[str, float]],
) -> dict[str, float]:
    """Sign everyone in, open their monitors, then poll through `phases` (name, seconds, on start),
    reading `cpu()` at each phase's start and end."""
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    try:
        arriving = asyncio.Semaphore(4)  # users arrive a few at a time (a password hash costs ~0.1 s)

        async def arrive(step: Awaitable[None]) -> None:
            async with arriving:
                await step

        await asyncio.gather(*(arrive(sign_in(base, user, connector)) for user in people))
        assert people[0].http is not None
        async with people[0].http.get("/_dash-dependencies") as response:
            callbacks = dependencies_map(await response.json())
        await asyncio.gather(*(arrive(open_monitor(user, callbacks)) for user in people))
        pollers = [
            asyncio.create_task(poll(kind, request, run))
            for user in people
            for kind, request in (
                ("tick", lambda u=user: tick(u, callbacks, run)),
                ("api", lambda u=user: job_detail(u, run)),
            )
        ]
        loop = asyncio.get_running_loop()
        durations: dict[str, float] = {}
        for name, seconds, on_start in phases:
            run.phase = "switching"  # not counted: the processor stopping or starting
            await asyncio.to_thread(on_start)
            run.phase, started, before = name, loop.time(), cpu()
            run.stop_at = started + seconds if name == phases[-1][0] else float("inf")
            await asyncio.sleep(seconds)
            after = cpu()
            durations[name] = loop.time() - started
            run.cpu[name] = {role: after[role] - before[role] for role in after}
        run.phase = "done"
        await asyncio.gather(*pollers)
        return durations
    finally:
        for user in people:
            if user.http is not None:
                await user.http.close()
        await connector.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=300.0, help="the measured phase, cycles running")
    parser.add_argument("--baseline-seconds", type=float, default=60.0, help="same users, processor stopped")
    parser.add_argument(
        "--interval", type=float, default=30.0, help="CYCLE_INTERVAL_SECONDS (product default)"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (x 4 threads)")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` or kill: still stop the processes
    if options.users > options.jobs:
        parser.error("every user watches a job of its own: --users must be <= --jobs")

    redis_url = benchmark_redis_url(12)
    Redis.from_url(redis_url).flushdb()
    secret = secrets.token_hex(16)
    logs = Path(tempfile.mkdtemp(prefix="load-dashboard-"))
    workers = ["worker-a", "worker-b"]
    with (
        scratch_database("pipeline_load_dashboard") as (db_url, engine),
        dataset_server_at(secret) as dataset_url,
    ):
        print(f"seeding {options.users} users and {options.jobs} jobs ...", flush=True)
        people = seed(engine, options.users, options.jobs)
        sim_port, web_port = free_port(), free_port()
        env = topology_env(
            database_url=db_url,
            redis_url=redis_url,
            secret_key=secret,
            cluster_port=sim_port,
            dataset_url=dataset_url,
            cycle_interval=options.interval,
            submit_batch=options.jobs,  # bring every job up in one cycle, not 5 a cycle
            data_dir=logs / "data",
            LOGIN_ATTEMPTS_PER_MINUTE=str(options.users * 2),  # every user signs in from 127.0.0.1
        )
        base = f"http://127.0.0.1:{web_port}"
        processes = Processes(env, logs)
        run = Run()
        try:
            processes.start("sim", "cluster-sim", "--port", str(sim_port), "--time-scale", "1", "--quiet")
            processes.start("web", "web", "--port", str(web_port), "--workers", str(options.web_workers))

            def start_processor() -> None:
                for name in workers:
                    processes.start(name, "worker")
                processes.start("scheduler", "scheduler")

            start_processor()
            wait_until(
                lambda: httpx.get(f"{base}/api/health", timeout=2).status_code == 200, 60, "the web process"
            )
            took = wait_until(
                lambda: running_jobs(engine, training=True) == options.jobs,
                600,
                f"{options.jobs} jobs to train",
                1.0,
            )
            print(f"{options.jobs} jobs training after {took:.0f} s; users signing in", flush=True)
            offsets: dict[str, int] = {}
            cycles: list[Cycle] = []

            def stop_processor() -> None:
                for name in ["scheduler", *workers]:
                    processes.terminate(name, timeout=60)  # a cycle under way finishes and is logged
                cycles.extend(cycles_in(logs, offsets))

            phases = [
                ("cycling", options.seconds, lambda: offsets.update(log_sizes(logs, workers))),
                ("baseline", options.baseline_seconds, stop_processor),
            ]
            durations = asyncio.run(drive(base, people, phases, run, lambda: cpu_by_role(processes, workers)))
            still_running = running_jobs(engine)
        except BaseException:
            print(f"failed; process logs kept in {logs}")
            raise
        finally:
            processes.stop_all()

    report(options, run, durations, cycles, still_running)
    shutil.rmtree(logs, ignore_errors=True)


def report(
    options: argparse.Namespace,
    run: Run,
    durations: dict[str, float],
    cycles: list[Cycle],
    still_running: int,
) -> None:
    print(
        f"\ndashboard load: {options.users} users, each polling its job's monitor tick and GET /api/jobs/<id> "
        f"every {POLL_SECONDS:.0f} s; {options.jobs} running jobs; gunicorn {options.web_workers} workers x 4 "
        f"threads; cycle every {options.interval:.0f} s while cycling"
    )
    print("latency from each request's scheduled instant (ms); 'sent p95' from sending only")
    header = f"{'phase':<10}{'request':<8}{'count':>7}{'req/s':>7}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
    print(header + f"{'sent p95':>9}{'KB':>7}{'errors':>7}")
    rows: dict[str, dict[str, float]] = {}
    for phase in ("baseline", "cycling"):
        mine = [s for s in run.samples if s.phase == phase]
        for kind in ("tick", "api", "all"):
            chosen = mine if kind == "all" else [s for s in mine if s.kind == kind]
            row = rows[f"{phase}/{kind}"] = summarize(chosen, durations.get(phase, 0.0))
            print(
                f"{phase:<10}{kind:<8}{row['requests']:>7.0f}{row['rps']:>7.1f}{row['p50']:>8.1f}{row['p95']:>8.1f}"
                f"{row['p99']:>8.1f}{row['max']:>8.0f}{row['sent_p95']:>9.1f}{row['kb']:>7.1f}{row['errors']:>7.0f}"
            )
    base, busy = rows["baseline/all"], rows["cycling/all"]
    print(f"cycling / baseline: p95 {busy['p95'] / base['p95']:.2f}x, p99 {busy['p99'] / base['p99']:.2f}x")
    if cycles:
        seconds = sorted(c.seconds for c in cycles)
        print(
            f"cycles while cycling: {len(cycles)}, polled {min(c.polled for c in cycles)}-"
            f"{max(c.polled for c in cycles)} jobs, {sum(c.points for c in cycles):,} points stored, "
            f"cycle time median {statistics.median(seconds):.2f} s, max {seconds[-1]:.2f} s"
        )
        cycling = [s for s in run.samples if s.phase == "cycling"]
        during = [s for s in cycling if any(c.overlaps(s.sent_at, s.done_at) for c in cycles)]
        between = [s for s in cycling if not any(c.overlaps(s.sent_at, s.done_at) for c in cycles)]
        for label, chosen in (("during a cycle", during), ("between cycles", between)):
            row = summarize(chosen, 0.0)
            print(
                f"  requests {label}: {len(chosen):>6}, p50 {row['p50']:.1f}, p95 {row['p95']:.1f}, "
                f"p99 {row['p99']:.1f} ms"
            )
    else:
        print("cycles while cycling: none logged (the processor did not run!)")
    print("CPU by role, % of one core (2 cores = 200 %):")
    roles = list(next(iter(run.cpu.values()), {}))
    print(f"  {'phase':<10}" + "".join(f"{role:>16}" for role in roles))
    for phase, used in run.cpu.items():
        seconds_in = durations[phase]
        print(f"  {phase:<10}" + "".join(f"{100 * used[role] / seconds_in:>15.0f}%" for role in roles))
    print("web CPU per request served (gunicorn's processes over the phase / requests in it):")
    for phase, used in run.cpu.items():
        served = rows.get(f"{phase}/all", {}).get("requests", 0)
        if served:
            print(f"  {phase:<10}{1000 * used['web'] / served:>7.2f} ms  ({served:.0f} requests)")
    ticks = sum(1 for s in run.samples if s.phase == "cycling" and s.kind == "tick")
    print(f"ticks that brought new points while cycling: {run.ticks_with_points} of {ticks}")
    print(f"jobs still running at the end: {still_running} of {options.jobs}")
    if run.failures:
        print("errors by kind: " + ", ".join(f"{k}: {v}" for k, v in sorted(run.failures.items())))
    met = busy["p95"] <= 200 and busy["errors"] == 0 and still_running == options.jobs and bool(cycles)
    print(f"target (cycling): p95 <= 200 ms, no errors, every job running -> {'OK' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
