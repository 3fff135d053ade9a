"""`lora-pipeline status` as an operator reads it: queue depth, last cycle, jobs by status, workers seen.

Run against a real worker process: first with no worker (a cycle waits, none ran), then with one
(the queue drains, the worker is listed, the last cycle's summary and age are printed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy.orm import Session, sessionmaker

from db.models import JobStatus
from jobs.queue import LAST_CYCLE_KEY, QUEUE_NAME, enqueue_cycle
from settings import Settings
from tests.e2e.processes import CANARY, ROOT, Processes, wait_until
from tests.factories import make_dataset, make_job
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(90)]


def _status(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "status"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )


def test_status_shows_queue_depth_last_cycle_jobs_by_status_and_workers(
    settings: Settings,
    pg_url: str,
    redis_url: str,
    sessions: sessionmaker[Session],
    owner: int,
    tmp_path: Path,
) -> None:
    with sessions.begin() as session:
        dataset = make_dataset(session, owner)
        for status in (JobStatus.COMPLETED, JobStatus.COMPLETED, JobStatus.FAILED):
            make_job(session, owner, dataset.id, status=status)
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": settings.secret_key,
        "GPU_CLUSTER_API_URL": f"http://127.0.0.1:{free_port()}",  # nothing to submit or poll
        "GPU_CLUSTER_API_KEY": CANARY,
        "CYCLE_INTERVAL_SECONDS": "30",
        "DATA_DIR": str(tmp_path / "data"),
    }
    redis = Redis.from_url(redis_url)
    assert enqueue_cycle(
        Queue(QUEUE_NAME, connection=redis), settings.with_overrides(cycle_interval_seconds=30)
    )

    before = _status(env)
    assert before.returncode == 0, before.stdout + before.stderr
    assert "jobs: completed 2, failed 1" in before.stdout
    assert "queue depth: 1; scheduler leader: no" in before.stdout
    assert "workers: none" in before.stdout
    assert "last cycle: never" in before.stdout

    processes = Processes(env, tmp_path / "logs")
    try:
        worker = processes.start("worker", "worker")
        wait_until(lambda: bool(redis.exists(LAST_CYCLE_KEY)), 30, "the worker to run the waiting cycle")
        after = _status(env)
    finally:
        processes.stop_all()
    assert after.returncode == 0, after.stdout + after.stderr
    assert "queue depth: 0" in after.stdout
    assert f"-{worker.pid}-" in after.stdout.split("workers:")[1].splitlines()[0]
    last = after.stdout.split("last cycle:")[1]
    assert " s ago (claimed 0, submitted 0, polled 0, points 0, finished 0, errors 0," in last
    assert CANARY not in after.stdout + after.stderr
