"""What the processor's integration tests share: the simulated cluster over real HTTP, a server for
signed dataset URLs, jobs in PostgreSQL, and a cycle runner with short client timeouts.

Its fixtures are registered for the whole suite by tests/conftest.py (``pytest_plugins``); tests
import only its plain functions.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from contract.signing import verify_storage_signature
from db.base import utcnow
from db.models import JobEvent, Notification, TrainingJob
from db.session import make_session_factory
from jobs.cluster import ClusterClient
from jobs.cycle import CycleSummary, run_cycle
from settings import Settings
from simulator.runner import SimulatorHandle, start_simulator_in_thread
from tests.accounts import make_user
from tests.factories import make_dataset, make_job

CANARY = "cluster-key-canary-7f3a9c"
DATASET_ROWS = 64  # 8 steps per epoch at batch size 8
# A default job (3 epochs of 8 steps on 2× A100) trains in about half a second of wall time;
# tests that need a job to stay running for a while give it more epochs (see LONG_HYPERPARAMETERS).
TIME_SCALE = 50.0
LONG_HYPERPARAMETERS = {"learning_rate": 2e-4, "batch_size": 8, "epochs": 60}  # ~3.5 s of wall time


class Clock:
    """Wall time plus an offset that a test moves forward; shared by the simulator
    (`sim.cluster.clock = clock.wall`) and the cycle (`clock=clock.now`), so the cluster's timestamps
    and ours agree and nothing waits on wall time."""

    def __init__(self) -> None:
        self.offset = 0.0

    def wall(self) -> float:
        return utcnow().timestamp() + self.offset

    def now(self) -> datetime:
        return utcnow() + timedelta(seconds=self.offset)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def dataset_app(secret_key: str) -> Callable[..., Any]:
    """Serves every signed /storage/datasets/... URL with the same small JSONL file (as api/storage does)."""
    body = "\n".join(
        json.dumps({"prompt": f"question {i}", "completion": f"answer {i}"}) for i in range(DATASET_ROWS)
    ).encode()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        path = environ.get("PATH_INFO", "")
        ok = verify_storage_signature(
            secret_key, path, (query.get("expires") or [None])[0], (query.get("signature") or [None])[0]
        )
        if not ok:
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [b'{"error": "bad signature"}']
        start_response("200 OK", [("Content-Type", "application/x-ndjson")])
        return [body]

    return app


@contextmanager
def dataset_server_at(secret_key: str) -> Iterator[str]:
    """A local server for signed dataset URLs made with `secret_key`; yields its base URL."""
    server = make_server(
        "127.0.0.1", 0, dataset_app(secret_key), _ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def dataset_server(settings: Settings) -> Iterator[str]:
    with dataset_server_at(settings.secret_key) as url:
        yield url


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    handle = start_simulator_in_thread(api_key=CANARY, time_scale=TIME_SCALE)
    yield handle
    handle.stop()


@pytest.fixture
def cycle_settings(settings: Settings, sim: SimulatorHandle, dataset_server: str) -> Settings:
    return settings.with_overrides(
        gpu_cluster_api_url=sim.url, public_base_url=dataset_server, lost_after_seconds=600.0
    )


@pytest.fixture
def sessions(pg_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(pg_engine)


@pytest.fixture
def owner(runtime: Any) -> int:
    return make_user(runtime, f"owner-{uuid.uuid4().hex[:6]}@example.com")


def fast_client(settings: Settings, **options: Any) -> ClusterClient:
    """A client with short timeouts and quick retries, so fault tests take seconds."""
    defaults: dict[str, Any] = {
        "read_timeout": 1.0,
        "connect_timeout": 1.0,
        "max_retries": 1,
        "backoff_seconds": 0.05,
    }
    defaults.update(options)
    return ClusterClient(settings.gpu_cluster_api_url, settings.gpu_cluster_api_key, **defaults)


def queue_jobs(
    sessions: sessionmaker[Session], user_id: int, count: int = 1, **overrides: Any
) -> list[uuid.UUID]:
    with sessions.begin() as session:
        dataset = make_dataset(session, user_id)
        return [make_job(session, user_id, dataset.id, **overrides).id for _ in range(count)]


def cycle(settings: Settings, sessions: sessionmaker[Session], **options: Any) -> CycleSummary:
    client = options.pop("client", None) or fast_client(settings)
    try:
        return run_cycle(settings, sessions=sessions, client=client, **options)
    finally:
        client.close()


def job(sessions: sessionmaker[Session], job_id: uuid.UUID) -> TrainingJob:
    with sessions() as session:
        found = session.get(TrainingJob, job_id)
        assert found is not None
        return found


def cycle_until(
    settings: Settings,
    sessions: sessionmaker[Session],
    done: Callable[[], bool],
    *,
    timeout: float = 30.0,
    pause: float = 0.2,
    **options: Any,
) -> int:
    """Run cycles until `done()`; returns how many ran. Fails the test at the timeout."""
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        cycle(settings, sessions, **options)
        count += 1
        if done():
            return count
        time.sleep(pause)
    pytest.fail(f"condition not reached after {count} cycles in {timeout:.0f} s")


def statuses(sessions: sessionmaker[Session], job_ids: list[uuid.UUID]) -> list[str]:
    with sessions() as session:
        result = session.execute(
            select(TrainingJob.id, TrainingJob.status).where(TrainingJob.id.in_(job_ids))
        )
        rows = {row.id: row.status for row in result}
    return [rows[job_id] for job_id in job_ids]


def all_terminal(sessions: sessionmaker[Session], job_ids: list[uuid.UUID]) -> Callable[[], bool]:
    return lambda: all(s in ("completed", "failed", "cancelled") for s in statuses(sessions, job_ids))


def count_rows(sessions: sessionmaker[Session], model: Any, job_id: uuid.UUID, **filters: Any) -> int:
    with sessions() as session:
        stmt = select(func.count()).select_from(model).where(model.job_id == job_id)
        for name, value in filters.items():
            stmt = stmt.where(getattr(model, name) == value)
        return int(session.scalar(stmt) or 0)


def notifications(sessions: sessionmaker[Session], job_id: uuid.UUID) -> list[str]:
    with sessions() as session:
        rows = session.scalars(select(Notification).order_by(Notification.id)).all()
        return [n.type for n in rows if n.metadata_.get("job_id") == str(job_id)]


def events(sessions: sessionmaker[Session], job_id: uuid.UUID, kind: str | None = None) -> list[JobEvent]:
    with sessions() as session:
        stmt = select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
        if kind:
            stmt = stmt.where(JobEvent.kind == kind)
        return list(session.scalars(stmt).all())


def sim_stats(handle: SimulatorHandle) -> dict[str, Any]:
    response = httpx.get(f"{handle.url}/_sim/stats", headers={"Authorization": f"Bearer {CANARY}"})
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data
