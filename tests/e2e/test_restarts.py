"""Restarts under real processes: a worker SIGKILLed in the middle of a cycle over 50 running jobs.

Two `lora-pipeline worker` processes and one `scheduler` run against PostgreSQL, Redis and a
`cluster-sim` with added latency (so a cycle is mid-flight for a while). The busy worker and its work
horse are killed with SIGKILL; a replacement starts, as a container restart policy would. Within two
cycles every job is polled again, and when they all finish nothing was lost or duplicated: exactly
`total_steps` metric points, one cost record, one started and one completed notification per job,
and one submission per job at the cluster.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from rq import Worker
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import CostRecord, MetricPoint, TrainingJob
from jobs.queue import CYCLE_LOCK_KEY, cycle_lock_ttl_seconds
from settings import Settings
from tests.cycle_harness import dataset_server_at, notifications, queue_jobs, statuses
from tests.e2e.processes import CANARY, Processes, answers, wait_until
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

JOBS = 50
INTERVAL = 2.0
LATENCY_MS = 150
# 60 epochs of 8 steps of Mistral 7B on 2x A100 at time scale 5: about 48 s of wall time per job
# (146 s of start-up and 480 steps at 0.2 s, services/job_timing.py).
HYPERPARAMETERS = {"learning_rate": 2e-4, "batch_size": 8, "epochs": 60}


@pytest.fixture
def stack(settings: Settings, pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[Processes, str]]:
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
            "CYCLE_INTERVAL_SECONDS": str(INTERVAL),
            "SUBMIT_BATCH_SIZE": str(JOBS),
            "LOST_AFTER_SECONDS": "600",
            "DATA_DIR": str(tmp_path / "data"),
        }
        processes = Processes(env, tmp_path / "logs")
        try:
            processes.start(
                "cluster-sim",
                *("cluster-sim", "--port", str(sim_port), "--time-scale", "5"),
                *("--latency-ms", str(LATENCY_MS), "--quiet"),
            )
            wait_until(lambda: answers(f"http://127.0.0.1:{sim_port}/health"), 20, "the simulator")
            yield processes, f"http://127.0.0.1:{sim_port}"
        finally:
            processes.stop_all()


def _polled_since(sessions: sessionmaker[Session], job_ids: list[uuid.UUID], since: datetime) -> int:
    with sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(TrainingJob)
                .where(TrainingJob.id.in_(job_ids), TrainingJob.last_polled_at > since)
            )
            or 0
        )


def _busy_worker(redis: Redis, processes: Processes) -> str | None:
    """The name of our worker process whose work horse is running a cycle right now."""
    pids = {process.pid: name for name, process in processes.running.items() if name.startswith("worker")}
    if not redis.exists(CYCLE_LOCK_KEY):
        return None
    for worker in Worker.all(connection=redis):
        if worker.get_state() == "busy" and worker.pid in pids:
            return pids[worker.pid]
    return None


def test_a_worker_killed_mid_cycle_loses_and_duplicates_nothing(
    stack: tuple[Processes, str],
    settings: Settings,
    sessions: sessionmaker[Session],
    owner: int,
    redis_url: str,
) -> None:
    processes, sim_url = stack
    job_ids = queue_jobs(sessions, owner, count=JOBS, hyperparameters=HYPERPARAMETERS)
    for name in ("worker-1", "worker-2"):
        processes.start(name, "worker")
    processes.start("scheduler", "scheduler")
    wait_until(lambda: statuses(sessions, job_ids) == ["running"] * JOBS, 90, "all 50 jobs to run")

    redis = Redis.from_url(redis_url)
    victim: dict[str, str] = {}

    def found_busy() -> bool:
        name = _busy_worker(redis, processes)
        if name:
            victim["name"] = name
        return name is not None

    wait_until(found_busy, 20, "a worker in the middle of a cycle", pause=0.02)
    killed_at = datetime.now(UTC)
    killed = processes.kill_group(victim["name"])
    assert len(killed) >= 2, "the work horse running the cycle was not found"
    processes.start("worker-3", "worker")  # the container restart policy

    # Within two cycles (after the dead worker's lock expires) every running job is polled again.
    budget = cycle_lock_ttl_seconds(settings.with_overrides(cycle_interval_seconds=INTERVAL)) + 2 * INTERVAL
    took = wait_until(
        lambda: _polled_since(sessions, job_ids, killed_at) == JOBS,
        budget + 10,
        "every job to be polled again",
    )
    print(f"every job polled again {took:.1f} s after the kill (budget {budget:.0f} s + cycle time)")

    wait_until(
        lambda: statuses(sessions, job_ids) == ["completed"] * JOBS,
        120,
        "every job to complete",
        pause=0.5,
    )
    stats: dict[str, Any] = httpx.get(
        f"{sim_url}/_sim/stats", headers={"Authorization": f"Bearer {CANARY}"}, timeout=10
    ).json()
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
        assert stats["submits"].get(str(job_id)) == 1, (
            f"{job_id} was submitted {stats['submits'].get(str(job_id))} times"
        )
    assert CANARY not in processes.all_logs()
