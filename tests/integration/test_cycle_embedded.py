"""The embedded default: the same run_cycle on an in-process timer, on SQLite, with the simulator."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from api.runtime import Runtime
from db.models import CostRecord, MetricPoint, Notification, TrainingJob
from jobs.cycle import start_cycle_timer
from settings import Settings
from simulator.runner import start_simulator_in_thread
from tests.accounts import make_user
from tests.cycle_harness import CANARY, TIME_SCALE, dataset_server_at
from tests.factories import make_dataset, make_job


def test_a_queued_job_trains_to_completion_by_itself_on_sqlite(sqlite_runtime: Runtime) -> None:
    settings: Settings = sqlite_runtime.settings
    with (
        start_simulator_in_thread(api_key=CANARY, time_scale=TIME_SCALE) as sim,
        dataset_server_at(settings.secret_key) as storage_url,
    ):
        settings = settings.with_overrides(
            gpu_cluster_api_url=sim.url,
            gpu_cluster_api_key=CANARY,
            public_base_url=storage_url,
            cycle_interval_seconds=0.2,
        )
        user_id = make_user(sqlite_runtime, "embedded@example.com")
        with sqlite_runtime.transaction() as session:
            dataset = make_dataset(session, user_id)
            job_id = make_job(session, user_id, dataset.id).id

        stop = threading.Event()
        timer = start_cycle_timer(settings, stop, sessions=sqlite_runtime.sessions)
        try:
            deadline = time.monotonic() + 30
            status: str | None = "queued"
            while time.monotonic() < deadline and status != "completed":
                time.sleep(0.2)
                with sqlite_runtime.sessions() as session:
                    status = session.scalar(select(TrainingJob.status).where(TrainingJob.id == job_id))
        finally:
            stop.set()
            timer.join(timeout=10)
        assert not timer.is_alive()

    assert status == "completed"
    with sqlite_runtime.sessions() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        points = session.scalar(
            select(func.count()).select_from(MetricPoint).where(MetricPoint.job_id == job_id)
        )
        assert points == job.total_steps
        assert job.progress == 100
        assert session.scalar(select(func.count()).select_from(CostRecord)) == 1
        kinds = session.scalars(select(Notification.type).order_by(Notification.id)).all()
        assert kinds == ["job_started", "job_completed"]
