"""Graceful lifecycle of every role, as `docker stop` drives it (SIGTERM to the main process).

- worker: SIGTERM in the middle of a cycle lets the cycle finish its job updates (RQ's warm
  shutdown), then the process exits 0 and leaves the cycle lock free;
- scheduler: SIGTERM releases the leader lock at once (a successor leads without waiting for it to
  expire) and leaves no queued cycle without its RQ job;
- web: a request in flight when gunicorn gets SIGTERM is still answered;
- each role logs exactly one start-up line with its version and configuration, never the key.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TrainingJob
from jobs.queue import CYCLE_LOCK_KEY, LAST_CYCLE_KEY, LEADER_KEY, QUEUE_NAME, enqueue_cycle
from logging_setup import product_version
from settings import Settings
from tests.cycle_harness import dataset_server_at, queue_jobs
from tests.e2e.processes import CANARY, Processes, answers, wait_until
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(120)]

LATENCY_MS = 1000  # every cluster call takes a second: a cycle over 3 new jobs lasts 3 s or more


@pytest.fixture
def roles(settings: Settings, pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Processes]:
    sim_port = free_port()
    with dataset_server_at(settings.secret_key) as dataset_url:
        env = {
            **os.environ,
            "DATABASE_URL": pg_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": settings.secret_key,
            "GPU_CLUSTER_API_URL": f"http://127.0.0.1:{sim_port}",
            "GPU_CLUSTER_API_KEY": CANARY,
            "PUBLIC_BASE_URL": dataset_url,
            "CYCLE_INTERVAL_SECONDS": "1",
            "DATA_DIR": str(tmp_path / "data"),
        }
        processes = Processes(env, tmp_path / "logs")
        try:
            processes.start(
                "cluster-sim",
                *("cluster-sim", "--port", str(sim_port), "--time-scale", "50"),
                *("--latency-ms", str(LATENCY_MS), "--quiet"),
            )
            wait_until(lambda: answers(f"http://127.0.0.1:{sim_port}/health"), 20, "the simulator")
            yield processes
        finally:
            processes.stop_all()


def _startup_lines(text: str, role: str) -> list[str]:
    return [line for line in text.splitlines() if f"starting {role}, version {product_version()}" in line]


def test_sigterm_lets_the_running_cycle_finish_then_the_worker_exits(
    roles: Processes, settings: Settings, sessions: sessionmaker[Session], owner: int, redis_url: str
) -> None:
    job_ids = queue_jobs(sessions, owner, count=3)
    redis = Redis.from_url(redis_url)
    worker = roles.start("worker", "worker")
    rq_job_id = enqueue_cycle(
        Queue(QUEUE_NAME, connection=redis), settings.with_overrides(cycle_interval_seconds=30)
    )
    assert rq_job_id

    def busy() -> bool:
        return any(w.get_state() == "busy" and w.pid == worker.pid for w in Worker.all(connection=redis))

    wait_until(busy, 20, "the worker to start the cycle", pause=0.05)
    time.sleep(0.5)  # well inside the submit phase (three 1 s submits)
    signalled_at = time.time()
    code = roles.terminate("worker", timeout=60)
    took = time.time() - signalled_at

    assert code == 0, roles.log("worker")[-2000:]
    assert Job.fetch(rq_job_id, connection=redis).get_status() == JobStatus.FINISHED
    with sessions() as session:
        rows = session.execute(
            select(TrainingJob.status, TrainingJob.external_job_id).where(TrainingJob.id.in_(job_ids))
        ).all()
    # The cycle that was running when SIGTERM came submitted every claimed job and saved its id.
    assert all(external for _, external in rows), rows
    assert "queued" not in {status for status, _ in rows}
    last = json.loads(redis.get(LAST_CYCLE_KEY) or b"{}")
    assert last.get("submitted") == 3
    assert last["at"] > signalled_at
    assert not redis.exists(CYCLE_LOCK_KEY)
    assert took >= 1.0, "the worker exited without waiting for its cycle"
    text = roles.log("worker")
    assert len(_startup_lines(text, "worker")) == 1, text[:2000]
    assert CANARY not in text


def test_sigterm_to_the_scheduler_releases_leadership_and_leaves_no_half_registered_cycle(
    roles: Processes, redis_url: str
) -> None:
    redis = Redis.from_url(redis_url)
    roles.start("scheduler", "scheduler")
    wait_until(
        lambda: bool(redis.exists(LEADER_KEY)) and redis.llen(f"rq:queue:{QUEUE_NAME}") == 1, 20, "a lead"
    )
    assert roles.terminate("scheduler", timeout=15) == 0
    assert not redis.exists(LEADER_KEY), "the leader lock outlived its scheduler"
    for job_id in redis.lrange(f"rq:queue:{QUEUE_NAME}", 0, -1):
        name = job_id.decode() if isinstance(job_id, bytes) else str(job_id)
        assert redis.exists(f"rq:job:{name}"), "a queued cycle has no RQ job behind it"

    # The successor leads at once instead of waiting for the old lock to expire.
    started = time.monotonic()
    roles.start("scheduler-2", "scheduler")
    wait_until(lambda: "scheduler is the leader" in roles.log("scheduler-2"), 15, "the new leader")
    assert time.monotonic() - started < 10
    for name in ("scheduler", "scheduler-2"):
        text = roles.log(name)
        assert len(_startup_lines(text, "scheduler")) == 1, text[:2000]
        assert CANARY not in text


def test_web_answers_a_request_in_flight_at_sigterm_then_exits(roles: Processes) -> None:
    port = free_port()
    web = roles.start("web", "web", "--port", str(port), "--workers", "1")
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{base}/api/health"), 40, "the web process")

    body = b"email=nobody%40example.com&password=wrong-password&next=%2F"
    request = (
        f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {base}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request + body[:10])  # the app is now waiting for the rest of the form
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # nothing answered yet: the request really is in flight
        web.send_signal(15)
        time.sleep(1.0)
        sock.settimeout(20)
        sock.sendall(body[10:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert web.wait(timeout=40) == 0
    text = roles.log("web")
    assert len(_startup_lines(text, "web")) == 1, text[:2000]
    assert CANARY not in text
