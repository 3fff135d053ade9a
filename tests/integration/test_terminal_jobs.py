"""A finished job stays as it finished, whichever way it ended: completed, failed or cancelled.

A user's cancel is refused with 400 and a clear reason, the state machine refuses every further
change, and a budget stop leaves it alone: status, times, cost, cost record, notification and
activity log are exactly what the end wrote. (A late progress report is checked on both databases
in test_ingest_databases.py; the monitor's polling stop in tests/unit/test_monitor_views.py.)

1 × H100 at $4.20/h, ended 30 minutes after it started: $2.1000.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api.runtime import Runtime
from db.models import CostRecord, JobEvent, JobStatus, Notification, TrainingJob
from jobs.budgets import stop_for_budget
from services.transitions import transition
from tests.factories import make_dataset, make_job

STARTED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ENDED = STARTED + timedelta(minutes=30)
TERMINAL = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]
COLUMNS = (
    "status",
    "progress",
    "current_step",
    "current_cost",
    "final_cost",
    "completed_at",
    "cancel_requested_at",
    "error_message",
    "updated_at",
)


def _finished(runtime: Runtime, user_id: int, status: JobStatus) -> uuid.UUID:
    with runtime.transaction() as session:
        job = make_job(
            session,
            user_id,
            make_dataset(session, user_id).id,
            status=JobStatus.RUNNING,
            started_at=STARTED,
            external_job_id="ext-9",
            gpu_config={"type": "H100", "count": 1},
            current_step=12,
            progress=30.0,
            budget_limit=Decimal("0.5000"),  # already passed: a budget stop would be due if it ran
        )
        values = {"error_message": "CUDA out of memory"} if status is JobStatus.FAILED else None
        assert transition(session, job, status, actor="test", at=ENDED, values=values)
        return job.id


def _stored(runtime: Runtime, job_id: uuid.UUID) -> dict[str, Any]:
    """The job's row and how many records of each kind it has."""
    with runtime.sessions() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        state: dict[str, Any] = {name: getattr(job, name) for name in COLUMNS}
        count = select(func.count())
        state["cost_records"] = session.scalar(count.where(CostRecord.job_id == job_id))
        state["events"] = session.scalar(count.where(JobEvent.job_id == job_id))
        state["notifications"] = session.scalar(count.select_from(Notification))
        state["billed"] = session.scalars(select(CostRecord.amount).where(CostRecord.job_id == job_id)).all()
    return state


@pytest.mark.parametrize("status", TERMINAL)
def test_cancel_is_refused_with_400_and_the_job_stays_as_it_finished(
    auth_client: FlaskClient, runtime: Runtime, user: dict[str, Any], status: JobStatus
) -> None:
    job_id = _finished(runtime, user["id"], status)
    before = _stored(runtime, job_id)
    assert before["billed"] == [Decimal("0.5000")]  # $2.1000 for the 30 min, capped at the budget
    assert before["final_cost"] == Decimal("0.5000")
    assert (before["cost_records"], before["events"], before["notifications"]) == (1, 1, 1)

    response = auth_client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "Job cannot be cancelled",
        "details": f"Job is already {status.value}: only active jobs can be cancelled.",
    }
    assert _stored(runtime, job_id) == before


@pytest.mark.parametrize("status", TERMINAL)
def test_no_change_of_status_and_no_budget_stop_touches_a_finished_job(
    runtime: Runtime, user: dict[str, Any], status: JobStatus
) -> None:
    job_id = _finished(runtime, user["id"], status)
    before = _stored(runtime, job_id)
    later = ENDED + timedelta(hours=3)
    with runtime.transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        for target in JobStatus:
            assert not transition(session, job, target, actor="test", at=later), target
        assert not stop_for_budget(session, job_id, now=later)
    assert _stored(runtime, job_id) == before
