"""PostgreSQL goes away in the middle of a cycle and comes back: nothing restarts, nothing is lost.

Everything runs against a private PostgreSQL cluster (tests/e2e/private_postgres.py), never the
shared server. The web process, a worker and the scheduler run over 10 running jobs; the server is
stopped (fast shutdown: connections cut) while a cycle is mid-flight and started again a few seconds
later. That cycle's failure is recorded (`lora-pipeline status` shows it), `/api/health` says 503
while the database is away and 200 once it is back, the next cycles succeed in the same processes,
and every job completes with exactly its points, one cost record, its two notifications and one
submission.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.migrate import upgrade
from db.models import CostRecord, MetricPoint, TrainingJob
from db.session import make_engine, make_session_factory
from jobs.queue import CYCLE_LOCK_KEY, LAST_CYCLE_KEY
from services.accounts import create_user
from tests.accounts import PASSWORD, SECRET
from tests.cycle_harness import dataset_server_at, notifications, queue_jobs, statuses
from tests.e2e.private_postgres import PrivatePostgres, private_postgres
from tests.e2e.processes import CANARY, ROOT, Processes, wait_until
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

JOBS = 10
INTERVAL = 1.0
HYPERPARAMETERS = {"learning_rate": 2e-4, "batch_size": 8, "epochs": 60}  # ~48 s at time scale 5


@pytest.fixture
def pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        engine = make_engine(server.url)
        upgrade(engine)
        engine.dispose()
        yield server


def _last_cycle(redis: Redis) -> dict[str, Any]:
    raw = redis.get(LAST_CYCLE_KEY)
    return json.loads(raw) if raw else {}


def _health(base: str) -> int:
    return httpx.get(f"{base}/api/health", timeout=5).status_code


def test_a_postgres_restart_mid_cycle_is_recorded_and_survived_without_restarting_anything(
    pg: PrivatePostgres, redis_url: str, tmp_path: Path
) -> None:
    engine = make_engine(pg.url)
    sessions: sessionmaker[Session] = make_session_factory(engine)
    with sessions.begin() as session:
        owner = create_user(session, "pg-restart@example.com", PASSWORD).id
    job_ids = queue_jobs(sessions, owner, count=JOBS, hyperparameters=HYPERPARAMETERS)
    sim_port, web_port = free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    redis = Redis.from_url(redis_url)
    with dataset_server_at(SECRET) as dataset_url:
        env = {
            **os.environ,
            "DATABASE_URL": pg.url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET,
            "GPU_CLUSTER_API_URL": f"http://127.0.0.1:{sim_port}",
            "GPU_CLUSTER_API_KEY": CANARY,
            "PUBLIC_BASE_URL": dataset_url,
            "CYCLE_INTERVAL_SECONDS": str(INTERVAL),
            "DATA_DIR": str(tmp_path / "data"),
        }
        processes = Processes(env, tmp_path / "logs")
        try:
            processes.start(
                "cluster-sim",
                *("cluster-sim", "--port", str(sim_port), "--time-scale", "5", "--latency-ms", "200"),
            )
            processes.start("web", "web", "--port", str(web_port), "--workers", "1")
            processes.start("worker", "worker")
            processes.start("scheduler", "scheduler")
            wait_until(lambda: _health(base) == 200, 40, "the web process")
            wait_until(lambda: statuses(sessions, job_ids) == ["running"] * JOBS, 60, "the jobs to run")

            wait_until(lambda: bool(redis.exists(CYCLE_LOCK_KEY)), 20, "a cycle in flight", pause=0.02)
            stopped_at = time.time()
            pg.stop()
            wait_until(lambda: _health(base) == 503, 15, "/api/health to report the database away")
            wait_until(
                lambda: "failed" in _last_cycle(redis) and _last_cycle(redis)["at"] > stopped_at,
                20,
                "the interrupted cycle to record its failure",
            )
            failure = _last_cycle(redis)["failed"]
            assert "OperationalError" in failure, failure
            status = _cli(["status"], env)
            assert status.returncode == 1  # the database is away: unhealthy, not a crash
            time.sleep(2 * INTERVAL)  # a few more cycles fail meanwhile

            pg.start()
            restarted_at = time.time()
            took = wait_until(
                lambda: "failed" not in _last_cycle(redis) and _last_cycle(redis)["at"] > restarted_at,
                4 * INTERVAL + 10,
                "a successful cycle after the restart",
            )
            print(f"first successful cycle {took:.1f} s after PostgreSQL came back")
            wait_until(lambda: _health(base) == 200, 15, "/api/health to recover")
            status = _cli(["status"], env)
            assert status.returncode == 0, status.stdout + status.stderr
            assert "last cycle:" in status.stdout
            assert "failed" not in status.stdout.split("last cycle:")[1]

            wait_until(
                lambda: statuses(sessions, job_ids) == ["completed"] * JOBS,
                120,
                "the jobs to complete",
                pause=0.5,
            )
            # The same processes carried on: none of them was restarted or died.
            for name in ("web", "worker", "scheduler"):
                assert processes.running[name].poll() is None, f"{name} exited"
            stats = httpx.get(
                f"http://127.0.0.1:{sim_port}/_sim/stats",
                headers={"Authorization": f"Bearer {CANARY}"},
                timeout=10,
            ).json()
        finally:
            processes.stop_all()
            engine.dispose()

    with sessions() as session:
        points = dict(
            session.execute(select(MetricPoint.job_id, func.count()).group_by(MetricPoint.job_id)).all()
        )
        costs = dict(
            session.execute(select(CostRecord.job_id, func.count()).group_by(CostRecord.job_id)).all()
        )
        totals = dict(session.execute(select(TrainingJob.id, TrainingJob.total_steps)).all())
    for job_id in job_ids:
        assert points.get(job_id) == totals[job_id] > 0, f"metric points of {job_id}"
        assert costs.get(job_id) == 1, f"cost records of {job_id}"
        assert notifications(sessions, job_id) == ["job_started", "job_completed"]
        assert stats["submits"].get(str(job_id)) == 1
    assert CANARY not in processes.all_logs()
    engine.dispose()


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
