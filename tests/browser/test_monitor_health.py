"""Run health on the monitor, in headless Chromium: a check fired by the real ingest path shows as a
warning with its evidence, and "Stop now" beside it stops the job (cancelled, "Stopped: <title>")."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from api.runtime import Runtime
from contract.parsing import parse_status_report
from db.base import utcnow
from db.models import JobEvent, JobStatus, TrainingJob
from services.ingest import ingest_status
from settings import Settings
from tests.browser.monitor_support import fast_app, seed_job, start_signed_in

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def monitor_app(settings: Settings, runtime: Runtime) -> Any:
    return fast_app(settings, runtime)


def _explode(runtime: Runtime, job_id: str) -> None:
    """The cluster reports 20 normal points then a loss 8× its minimum: through ingest_status."""
    history = [
        {"step": step, "training_loss": 1.0 if step <= 20 else 8.0, "gradient_norm": 0.5}
        for step in range(1, 25)
    ]
    body = {"status": "running", "current_step": 24, "total_steps": 100, "metrics_history": history}
    with runtime.transaction() as session:
        job = session.get_one(TrainingJob, uuid.UUID(job_id))
        ingest_status(session, job, parse_status_report(body, "ext-7f3a", 0), source="callback", now=utcnow())


def test_mon_health001_warning_shows_its_evidence_and_stop_now_stops_the_job(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = seed_job(runtime, user["id"], JobStatus.RUNNING)
    _explode(runtime, job_id)
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    duo.wait_for_element(".health-warning", timeout=20)
    alert = duo.find_element(".health-warning").text
    assert "Exploding training loss" in alert
    assert "at step 23" in alert
    assert "Running min" in alert
    assert "8" in alert
    duo.driver.save_screenshot("docs/screenshots/monitor-health-warning.png")

    duo.find_element(".health-warning button").click()
    reason = "Stopped: Exploding training loss"
    duo.wait_for_contains_text("#mon-stop", reason, timeout=20)  # the next tick shows the stop
    with runtime.transaction() as session:
        job = session.get_one(TrainingJob, uuid.UUID(job_id))
        assert job.status == JobStatus.CANCELLED.value
        assert job.error_message == reason
        assert job.cancel_requested_at is not None
        kinds = session.scalars(select(JobEvent.kind).where(JobEvent.job_id == job.id)).all()
        assert list(kinds).count("health_warning") == 1
    assert duo.get_logs() == []
