"""CPU milliseconds the web process spends per request of the live monitor: a tick and an API read.

Builds the real app in-process against a scratch PostgreSQL database and Redis (as the production
web role runs it), with one running job of `--points` stored points (benchmarks/load_dashboard.py's
jobs hold a few hundred), signs in, renders the monitor once, then calls the WSGI app directly
(no HTTP server, no test client in the timed region) for:

- `tick`: the POST /_dash-update-component the page's dcc.Interval fires, carrying the stores the
  previous answer returned; quiet (no new point: most ticks, the cycle stores points every 30 s);
- `tick+5`: the same after 5 new points were stored (a tick that follows a cycle);
- `api`: GET /api/jobs/<id> with a bearer token (a script watching the job).

CPU is this process's (time.process_time around the WSGI call, body consumed), so PostgreSQL's
and Redis's own CPU is not in it; queries per request are counted on the engine. The first
`--warm` requests of each kind are not counted.

    python -m benchmarks.request_cpu                       # 300 points, 400 requests of each kind
    python -m benchmarks.request_cpu --profile             # and a cProfile top-25 per kind

Target (issue 16 item 5): CPU per request halved from the ~9 ms measured at 200 live users.
Redis: REDIS_URL, else logical DB PIPELINE_TEST_REDIS_DB (default 12) on 127.0.0.1:6379, flushed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from redis import Redis
from sqlalchemy import Engine, delete, event, update
from werkzeug.test import EnvironBuilder

from api.runtime import Runtime
from app import create_app
from benchmarks.monitor_tick import STORES, callback_request, dependencies_map
from benchmarks.scratch_db import scratch_database
from benchmarks.seed_metrics import copy_metric_points
from benchmarks.topology import benchmark_redis_url
from db.models import JobStatus, MetricPoint, TrainingJob
from services.accounts import create_user, issue_token
from settings import Settings
from tests.factories import make_dataset, make_job

EMAIL, PASSWORD = "cpu@example.com", "correct horse battery"
ORIGIN = "http://localhost"
NEW_POINTS = 5  # a cycle's worth for one job (a point every 2 steps at 0.75 steps/s, 30 s apart)


@dataclass
class Kind:
    """One kind of request: CPU seconds and query counts of each counted call."""

    name: str
    cpu: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)


class QueryCounter:
    """Statements the engine sends, counted per request."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


class Client:
    """Calls the WSGI app with a prepared environ; times only the app and reading its body."""

    def __init__(self, wsgi: Callable[..., Any], cookie: str, counter: QueryCounter) -> None:
        self.wsgi, self.cookie, self.counter = wsgi, cookie, counter
        self.profiler: cProfile.Profile | None = None

    def call(
        self, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> tuple[float, int, bytes]:
        headers = {"Origin": ORIGIN}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        else:
            headers["Cookie"] = self.cookie
        environ = EnvironBuilder(
            path=path, method=method, headers=list(headers.items()), json=body, base_url=ORIGIN
        ).get_environ()
        status: list[str] = []
        queries = self.counter.count
        if self.profiler is not None:
            self.profiler.enable()
        start = time.process_time()
        chunks = self.wsgi(environ, lambda s, _h, _e=None: status.append(s))
        data = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        cpu = time.process_time() - start
        if self.profiler is not None:
            self.profiler.disable()
        if not status or not status[0].startswith("200"):
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return cpu, self.counter.count - queries, data


def seed(runtime: Runtime, points: int) -> tuple[uuid.UUID, str]:
    """A user with a token and one running job of `points` stored points; (job id, token)."""
    with runtime.transaction() as session:
        user = create_user(session, EMAIL, PASSWORD)
        token = issue_token(session, EMAIL, name="cpu")
        dataset = make_dataset(session, user.id)
        job = make_job(
            session,
            user.id,
            dataset.id,
            status=JobStatus.RUNNING,
            started_at=datetime(2026, 1, 1, tzinfo=UTC),
            total_steps=points * 4,
            total_epochs=3,
            current_step=points,
            progress=25.0,
            current_metrics={"training_loss": 0.3, "throughput": 3100.0, "gpu_utilization": 93.0},
            current_cost=Decimal("1.0000"),
        )
        job_id = job.id
    copy_metric_points(runtime.engine, job_id, points, total=points * 4)
    return job_id, token


def new_points(runtime: Runtime, job_id: uuid.UUID, base: int, total: int) -> None:
    """What a cycle does for one job: NEW_POINTS points after step `base`, and the job's numbers.

    The points after `base` are deleted first, so every fresh request sees a job of the same size."""
    with runtime.transaction() as session:
        session.execute(delete(MetricPoint).where(MetricPoint.job_id == job_id, MetricPoint.step > base))
    copy_metric_points(runtime.engine, job_id, NEW_POINTS, first_step=base + 1, total=total)
    last = base + NEW_POINTS
    with runtime.transaction() as session:
        session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id)
            .values(current_step=last, progress=100.0 * last / total, updated_at=datetime.now(UTC))
        )


def sign_in(app: Any) -> str:
    """The session cookie (`name=value`) of a browser sign-in."""
    client = app.server.test_client()
    response = client.post("/login", data={"email": EMAIL, "password": PASSWORD}, headers={"Origin": ORIGIN})
    assert response.status_code == 302, response.status_code
    cookie = client.get_cookie("pipeline_session")
    assert cookie is not None
    return f"pipeline_session={cookie.value}"


def keep_stores(values: dict[str, Any], answer: dict[str, Any]) -> None:
    for store in STORES:
        key = f"{store}.data"
        values[key] = answer.get("response", {}).get(store, {}).get("data", values.get(key))


@contextmanager
def profiling(client: Client, title: str, top: int, sort: str) -> Iterator[None]:
    """Profile the WSGI calls made inside; print the `top` functions by `sort` (a pstats key)."""
    client.profiler = cProfile.Profile(time.process_time)  # CPU, not waiting on PostgreSQL
    try:
        yield
    finally:
        out = io.StringIO()
        pstats.Stats(client.profiler, stream=out).sort_stats(sort).print_stats(top)
        client.profiler = None
        print(f"\n=== CPU profile: {title}, sorted by {sort} ===")
        print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))


def run(options: argparse.Namespace) -> dict[str, Kind]:
    redis_url = benchmark_redis_url(12)
    Redis.from_url(redis_url).flushdb()
    with scratch_database("pipeline_request_cpu") as (db_url, engine), tempfile.TemporaryDirectory() as data:
        engine.dispose()
        settings = Settings.from_env(
            {
                "DATABASE_URL": db_url,
                "REDIS_URL": redis_url,
                "SECRET_KEY": "request-cpu-secret-key-0123456789",
                "DATA_DIR": data,
            }
        )
        runtime = Runtime.create(settings)
        app = create_app(settings, runtime=runtime)
        try:
            return measure(app, runtime, options)
        finally:
            runtime.engine.dispose()


def measure(app: Any, runtime: Runtime, options: argparse.Namespace) -> dict[str, Kind]:
    """Counted passes of each kind, then (with --profile) one profiled pass each."""
    job_id, token = seed(runtime, options.points)
    client = Client(app.server, sign_in(app), QueryCounter(runtime.engine))
    _cpu, _queries, body = client.call("GET", "/_dash-dependencies")
    callbacks = dependencies_map(json.loads(body))
    values: dict[str, Any] = {
        "mon-job-id.data": str(job_id),
        "mon-smoothing.value": 0.6,
        "mon-y-scale.value": "linear",
        "mon-x-axis.value": "step",
        "theme-store.data": "light",
        "mon-interval.n_intervals": 0,
    }
    first = callback_request(callbacks, "mon-job-id", "data", values)
    keep_stores(values, json.loads(client.call("POST", "/_dash-update-component", body=first)[2]))
    before_points = {key: values[key] for key in values if key.endswith(".data")}

    def tick() -> tuple[float, int, bytes]:
        values["mon-interval.n_intervals"] += 1
        request = callback_request(callbacks, "mon-interval", "n_intervals", values)
        answer = client.call("POST", "/_dash-update-component", body=request)
        keep_stores(values, json.loads(answer[2]))
        return answer

    def api() -> tuple[float, int, bytes]:
        return client.call("GET", f"/api/jobs/{job_id}", token=token)

    def after_points(call: Callable[[], tuple[float, int, bytes]]) -> Callable[[], tuple[float, int, bytes]]:
        """`call` after a cycle stored new points, seen from the page as it was before them."""

        def fresh() -> tuple[float, int, bytes]:
            new_points(runtime, job_id, options.points, options.points * 4)
            values.update(before_points)
            return call()

        return fresh

    plan = {
        "tick": tick,
        f"tick+{NEW_POINTS}": after_points(tick),
        "api": api,
        f"api+{NEW_POINTS}": after_points(api),
    }
    kinds = {name: Kind(name) for name in plan}
    for name, call in plan.items():
        for n in range(options.warm + options.requests):
            cpu, queries, data = call()
            if n >= options.warm:
                kinds[name].cpu.append(cpu)
                kinds[name].queries.append(queries)
                kinds[name].sizes.append(len(data))
    if options.profile:
        for name, call in plan.items():
            with profiling(client, f"{options.requests} x {name}", options.top, options.sort):
                for _ in range(options.requests):
                    call()
    return kinds


def report(kinds: dict[str, Kind], options: argparse.Namespace) -> None:
    print(
        f"\nweb CPU per request, in-process WSGI ({options.points} stored points, {options.requests} "
        f"requests of each kind after {options.warm} warm-up)"
    )
    print(f"{'request':<10}{'CPU ms p50':>11}{'mean':>8}{'p90':>8}{'queries':>9}{'KB':>7}")
    for kind in kinds.values():
        ordered = sorted(kind.cpu)
        print(
            f"{kind.name:<10}{statistics.median(ordered) * 1000:>11.2f}{statistics.fmean(ordered) * 1000:>8.2f}"
            f"{ordered[int(0.9 * (len(ordered) - 1))] * 1000:>8.2f}{statistics.median(kind.queries):>9.0f}"
            f"{statistics.median(kind.sizes) / 1024:>7.1f}"
        )
    # What the load benchmark's users send: one tick and one API call every 5 s each, and a cycle
    # every 30 s stores new points, so one poll in six follows new points.
    mix = [
        statistics.fmean(kinds[quiet].cpu) * 5 / 6 + statistics.fmean(kinds[fresh].cpu) / 6
        for quiet, fresh in (("tick", f"tick+{NEW_POINTS}"), ("api", f"api+{NEW_POINTS}"))
    ]
    print(
        f"load mix (5 quiet : 1 after new points, ticks and API calls alike): "
        f"{statistics.fmean(mix) * 1000:.2f} ms CPU per request (tick {mix[0] * 1000:.2f}, api {mix[1] * 1000:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=300, help="stored points of the watched job")
    parser.add_argument("--requests", type=int, default=400, help="counted requests of each kind")
    parser.add_argument("--warm", type=int, default=20, help="uncounted requests first, per kind")
    parser.add_argument("--profile", action="store_true", help="then a cProfile pass per kind")
    parser.add_argument("--top", type=int, default=25, help="profile lines per kind")
    parser.add_argument("--sort", default="tottime", help="profile order: tottime (own) or cumulative")
    options = parser.parse_args()
    report(run(options), options)


if __name__ == "__main__":
    main()
