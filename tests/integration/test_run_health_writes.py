"""check_health's writes: a job's state row is written only when the batch changed it, and a job
whose checks are all off is not evaluated at all (real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from catalog.health_checks import HEALTH_CHECKS
from db.base import utcnow
from db.metric_store import PointRow
from db.models import JobStatus
from services.run_health import check_health
from tests.cycle_harness import events, job, queue_jobs


def rising_loss(job_id: uuid.UUID, steps: range) -> list[PointRow]:
    """Points whose training loss explodes: the default exploding_loss check fires on them."""
    now = utcnow()
    return [
        (job_id, now + timedelta(seconds=step), 0.0, step, 0.5 * 2**step, None, 2e-4, 0.5, 3000.0, 90.0)
        for step in steps
    ]


def test_a_batch_seen_before_leaves_the_state_row_unwritten(sessions, owner) -> None:
    (job_id,) = queue_jobs(sessions, owner, status=JobStatus.RUNNING, started_at=utcnow())
    rows = rising_loss(job_id, range(1, 18))
    with sessions.begin() as session:
        fired = check_health(session, [(job_id, rows, (), 17)], source="poll", now=utcnow())
    assert [firing.check for firing in fired] == ["exploding_loss"]
    first = job(sessions, job_id)
    assert first.health_state["last_step"] == 17
    with sessions.begin() as session:  # the same report again (a poll after the callback)
        assert check_health(session, [(job_id, rows, (), 17)], source="poll", now=utcnow()) == []
    again = job(sessions, job_id)
    assert again.health_state == first.health_state
    assert again.updated_at == first.updated_at


def test_a_job_with_every_check_off_is_not_evaluated(sessions, owner) -> None:
    everything_off = {check.id: {"action": "off"} for check in HEALTH_CHECKS}
    (job_id,) = queue_jobs(
        sessions, owner, status=JobStatus.RUNNING, started_at=utcnow(), health_checks=everything_off
    )
    rows = rising_loss(job_id, range(1, 18))
    nan_note = ["metrics_history[3].training_loss: dropped non-finite value nan"]
    with sessions.begin() as session:
        assert check_health(session, [(job_id, rows, nan_note, 17)], source="poll", now=utcnow()) == []
    assert events(sessions, job_id, "health_warning") == []
    assert "last_step" not in job(sessions, job_id).health_state
