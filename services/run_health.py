"""Run health in the ingest path: evaluate each job's new points, record what fired, stop if asked.

Called by services/ingest.apply_plans in the caller's transaction, after the points and progress
are written (so the job rows are already locked by this transaction, and a poll and a callback for
the same job take turns). Per fired check: one `health_warning` event (the chart marks its
`details.step`), one `health_warning` notification, and for action `stop` the budget stop's cancel
path (the cycle's cancel retries then tell the cluster). Design: docs/architecture.md §9a.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from catalog.health_checks import CHECKS_BY_ID, find_health_check, resolved_health_config
from db.metric_store import PointRow, columns
from db.models import JobEvent, JobStatus, TrainingJob
from services.health import HEALTH_METRICS, Firing, all_off, check_title, copy_state, evaluate_values
from services.transitions import Notice, job_label, record_event, record_notification, transition

HEALTH_EVENT = "health_warning"
# contract/parsing.py's note for a dropped NaN/inf: "metrics_history[3].training_loss: dropped non-finite value nan"
_NON_FINITE = re.compile(r"(?:^|\.)(training_loss|validation_loss): dropped non-finite value")


def non_finite_losses(notes: Sequence[str], rows: Sequence[PointRow], current_step: int) -> dict[str, int]:
    """Which losses the cluster sent as NaN/inf in this report, and the step to mark: the first new
    point without that loss, else the job's current step."""
    found: dict[str, int] = {}
    names = columns()
    for note in notes:
        match = _NON_FINITE.search(note)
        if match and match.group(1) not in found:
            metric = match.group(1)
            index = names.index(metric)
            missing = [row[3] for row in rows if row[index] is None]
            found[metric] = min(missing) if missing else current_step
    return found


def check_health(
    session: Session,
    batches: Sequence[tuple[uuid.UUID, Sequence[PointRow], Sequence[str], int]],
    *,
    source: str,
    now: datetime,
) -> list[Firing]:
    """Run the checks over each running job's new points: (job id, rows, notes, current step).

    One SELECT for the jobs' settings and state, one bulk UPDATE of the states that changed; a job
    whose checks are all off is skipped; the rare firing loads its job to write the event, the
    notification and perhaps the stop.
    """
    by_id = {job_id: (rows, notes, step) for job_id, rows, notes, step in batches if rows or notes}
    if not by_id:
        return []
    jobs = session.execute(
        select(
            TrainingJob.id, TrainingJob.health_checks, TrainingJob.health_state, TrainingJob.total_steps
        ).where(TrainingJob.id.in_(list(by_id)), TrainingJob.status == JobStatus.RUNNING.value)
    ).all()
    names = columns()
    values_of = itemgetter(names.index("step"), *(names.index(metric) for metric in HEALTH_METRICS))
    fired: list[Firing] = []
    changed: list[dict[str, Any]] = []
    for job in jobs:
        config = resolved_health_config(job.health_checks)
        if all_off(config):
            continue
        rows, notes, current_step = by_id[job.id]
        before = job.health_state if isinstance(job.health_state, dict) else {}
        state = copy_state(before)
        firings = evaluate_values(
            config,
            state,
            map(values_of, rows),
            total_steps=job.total_steps or 0,
            non_finite=non_finite_losses(notes, rows, current_step) if notes else None,
        )
        if state != before:
            changed.append({"id": job.id, "health_state": state})
        for firing in firings:
            record_firing(session, job.id, firing, source=source, now=now)
        fired += firings
    write_states(session, changed, now=now)
    return fired


_PG_STATES = text("""
UPDATE lora_training_jobs AS j SET health_state = r.health_state, updated_at = :now
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id uuid, health_state jsonb)
WHERE j.id = r.id
""")


def write_states(session: Session, changed: Sequence[dict[str, Any]], *, now: datetime) -> None:
    """The changed states ({id, health_state}) in one statement: on PostgreSQL from one JSON
    recordset (one encode and one round trip, not a row each); elsewhere an executemany."""
    if not changed:
        return
    if session.get_bind().dialect.name == "postgresql":
        rows = [{"id": str(row["id"]), "health_state": row["health_state"]} for row in changed]
        session.execute(_PG_STATES, {"rows": json.dumps(rows), "now": now})
    else:
        session.execute(update(TrainingJob), changed)


def record_firing(session: Session, job_id: uuid.UUID, firing: Firing, *, source: str, now: datetime) -> None:
    """The event, the notification and (action `stop`) the stop of one fired check."""
    job = session.get(TrainingJob, job_id, populate_existing=True)
    if job is None:
        return
    record_event(session, job_id, HEALTH_EVENT, actor="processor", at=now, details=firing.details())
    title = check_title(firing.check)
    stopping = firing.action == "stop"
    record_notification(
        session,
        job,
        HEALTH_EVENT,
        f"Health warning: {title}",
        f"Job {job_label(job)} at step {firing.step}: {firing.message}"
        + (" The job is being stopped." if stopping else ""),
        priority="high" if stopping else "medium",
        metadata={"job_id": str(job.id), "check": firing.check, "step": firing.step, "source": source},
        at=now,
    )
    if stopping:
        stop_for_health(session, job, firing.check, now=now, actor="processor")


def health_stop_reason(check_id: str) -> str:
    """The stopped job's `error_message`, as users read it on the monitor and in the API."""
    return f"Stopped: {check_title(check_id)}"


def stop_for_health(session: Session, job: TrainingJob, check_id: str, *, now: datetime, actor: str) -> bool:
    """Cancel a running job for a health check, exactly like a budget stop (jobs/budgets.py): one
    transition sets the reason and `cancel_requested_at`, so the cycle tells the cluster."""
    if job.status != JobStatus.RUNNING.value:
        return False
    reason = health_stop_reason(check_id)
    return transition(
        session,
        job,
        JobStatus.CANCELLED,
        actor=actor,
        at=now,
        values={"cancel_requested_at": now, "error_message": reason},
        details={"reason": reason, "check": check_id},
        notice=Notice(
            "Stopped by a health check",
            f"Job {job_label(job)} was stopped: {check_title(check_id)}.",
            priority="high",
        ),
    )


def stop_now(session: Session, user_id: int, job_id: uuid.UUID, check_id: str, *, now: datetime) -> bool:
    """The monitor's "Stop now" beside a warning: the user's own running job, for a known check.
    False when the job is not the user's, not running, or the check is unknown."""
    if find_health_check(check_id) is None:
        return False
    job = session.scalar(select(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.user_id == user_id))
    if job is None:
        return False
    return stop_for_health(session, job, check_id, now=now, actor="user")


def health_warnings(session: Session, job_id: uuid.UUID) -> list[JobEvent]:
    """A job's fired checks, oldest first (at most one per check: services/health.py)."""
    return list(
        session.scalars(
            select(JobEvent)
            .where(JobEvent.job_id == job_id, JobEvent.kind == HEALTH_EVENT)
            .order_by(JobEvent.at, JobEvent.id)
            .limit(len(CHECKS_BY_ID) * 2)
        )
    )
