"""The job state machine (docs/architecture.md §4): the only code that changes `lora_training_jobs.status`.

Every change is one conditional UPDATE (`WHERE id = :id AND status = :from`); when it matches no
row somebody else won the race and nothing else is written. The event, the notification and (for
terminal states) the cost record are added to the same session, so the caller's commit makes them
happen together, exactly once, or not at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    CostRecord,
    JobEvent,
    JobStatus,
    Notification,
    TrainingJob,
)
from db.session import rows_affected
from services.costs import (
    PricingError,
    billing_period,
    cap_to_budget,
    compute_cost,
    elapsed_hours,
    format_money,
    hourly_rate,
)
from services.notifications import add_notification

ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.INITIALIZING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.INITIALIZING: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}),
}
ERROR_MESSAGE_LIMIT = 2000
COMPUTE_COST_TYPE = "training_compute"


@dataclass(frozen=True)
class NotificationSpec:
    type: str
    title: str
    priority: str


NOTIFICATIONS: dict[JobStatus, NotificationSpec] = {
    JobStatus.RUNNING: NotificationSpec("job_started", "Training Started", "medium"),
    JobStatus.COMPLETED: NotificationSpec("job_completed", "Training Completed", "high"),
    JobStatus.FAILED: NotificationSpec("job_failed", "Training Failed", "high"),
    JobStatus.CANCELLED: NotificationSpec("job_cancelled", "Training Cancelled", "medium"),
}


@dataclass(frozen=True)
class Notice:
    """The title and message of a transition's notification, for a change whose generic text would
    not say why it happened (a budget stop is a cancel the user did not click)."""

    title: str
    message: str
    priority: str | None = None  # the status's own priority when None
    event: str | None = None  # a finer event name for webhooks (metadata["event"]), e.g. budget_stop


class TransitionRefused(Exception):
    """The job is not in a state that allows the requested change; the message is for the user."""


def can_transition(from_status: JobStatus, to_status: JobStatus) -> bool:
    return to_status in ALLOWED.get(from_status, frozenset())


def record_event(
    session: Session,
    job_id: uuid.UUID,
    kind: str,
    *,
    actor: str = "system",
    details: dict[str, Any] | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append to the job's activity log (in the caller's transaction)."""
    session.add(
        JobEvent(
            job_id=job_id,
            kind=kind,
            actor=actor,
            details=details or {},
            from_status=from_status,
            to_status=to_status,
            at=at or utcnow(),
        )
    )


def transition(
    session: Session,
    job: TrainingJob,
    to_status: JobStatus,
    *,
    actor: str,
    at: datetime | None = None,
    values: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    claim_token: str | None = None,
    notice: Notice | None = None,
) -> bool:
    """Move `job` from the status it was read with to `to_status`; False if the row had moved on.

    `values` are extra columns set in the same UPDATE. With `claim_token`, the UPDATE also requires
    that the job's lease is still ours, so a stale worker cannot overwrite a newer one's work.
    Terminal targets also finalise cost (see `_finalise`). `notice` replaces the notification's
    generic title and message (its type stays the status's, so it is still the one terminal one).
    """
    from_status = JobStatus(job.status)
    if not can_transition(from_status, to_status):
        return False
    at = at or utcnow()
    columns: dict[str, Any] = {"status": to_status.value, "updated_at": at, **(values or {})}
    extra_details = dict(details or {})
    if to_status in TERMINAL_STATUSES:
        columns.update(_finalise(job, to_status, at, columns))
    stmt = update(TrainingJob).where(TrainingJob.id == job.id, TrainingJob.status == from_status.value)
    if claim_token is not None:
        stmt = stmt.where(TrainingJob.claim_token == claim_token)
    if (
        rows_affected(session.execute(stmt.values(**columns).execution_options(synchronize_session=False)))
        != 1
    ):
        return False
    for key, value in columns.items():
        setattr(job, key, value)
    record_event(
        session,
        job.id,
        "status_changed",
        actor=actor,
        details=extra_details,
        from_status=from_status.value,
        to_status=to_status.value,
        at=at,
    )
    _notify(session, job, to_status, at, notice)
    if to_status in TERMINAL_STATUSES:
        _record_compute_cost(session, job, at)
    return True


def _finalise(
    job: TrainingJob, to_status: JobStatus, at: datetime, columns: dict[str, Any]
) -> dict[str, Any]:
    """Columns every terminal state sets: completion time, final cost, and the error text if any."""
    ended = columns.get("completed_at") or at
    final: dict[str, Any] = {"completed_at": ended}
    started = columns.get("started_at", job.started_at)
    if started is not None:
        try:
            rate = hourly_rate(job.gpu_config.get("type"), job.gpu_config.get("count"))
        except PricingError:
            rate = Decimal(0)  # creation refuses unknown GPUs; a legacy row must not crash finishing
        # Never bill past the budget, however late the cycle that ends the job (jobs/budgets.py).
        cost = cap_to_budget(compute_cost(rate, started, ended), job.budget_limit)
    else:
        cost = Decimal(0)  # never reached the cluster: nothing to bill
    final["final_cost"] = cost
    final["current_cost"] = cost
    if to_status is JobStatus.COMPLETED:
        final["progress"] = 100.0
    if columns.get("error_message"):
        final["error_message"] = truncate_error(str(columns["error_message"]))
    return final


def truncate_error(message: str, limit: int = ERROR_MESSAGE_LIMIT) -> str:
    """Keep the head and tail of a long error: the cause is usually at one end of a traceback."""
    if len(message) <= limit:
        return message
    half = (limit - 20) // 2
    return f"{message[:half]}\n… [truncated] …\n{message[-half:]}"


def job_label(job: TrainingJob) -> str:
    """How notifications name a job: its name in quotes, else the start of its id."""
    name = job.hyperparameters.get("name") if isinstance(job.hyperparameters, dict) else None
    return f"“{name}”" if name else f"{str(job.id)[:8]}"


def _notify(
    session: Session, job: TrainingJob, to_status: JobStatus, at: datetime, notice: Notice | None
) -> None:
    spec = NOTIFICATIONS.get(to_status)
    if spec is None:
        return
    label = job_label(job)
    messages = {
        JobStatus.RUNNING: f"Job {label} is running on {job.gpu_config.get('count')}× {job.gpu_config.get('type')}.",
        JobStatus.COMPLETED: f"Job {label} finished training. Cost: {format_money(job.final_cost)}.",
        JobStatus.FAILED: f"Job {label} failed: {(job.error_message or 'unknown error')[:300]}",
        JobStatus.CANCELLED: f"Job {label} was cancelled. Cost: {format_money(job.final_cost)}.",
    }
    title, message, priority = spec.title, messages[to_status], spec.priority
    if notice is not None:
        title, message = notice.title, _notice_message(notice, job)
        priority = notice.priority or spec.priority
    metadata: dict[str, Any] = {"job_id": str(job.id), "status": to_status.value}
    if notice is not None and notice.event:
        metadata["event"] = notice.event
    record_notification(
        session,
        job,
        spec.type,
        title,
        message,
        priority=priority,
        metadata=metadata,
        at=at,
    )


def record_notification(
    session: Session,
    job: TrainingJob,
    type_: str,
    title: str,
    message: str,
    *,
    priority: str,
    metadata: dict[str, Any],
    at: datetime,
) -> Notification:
    """The one place a job's notification is created (status changes and health warnings), in the
    caller's transaction; outgoing delivery hooks here by `type_`."""
    notification = Notification(
        user_id=job.user_id,
        type=type_,
        title=title,
        message=message,
        priority=priority,
        action_url=f"/training/jobs/{job.id}",
        metadata_=metadata,
        created_at=at,
    )
    return add_notification(session, notification)


def _notice_message(notice: Notice, job: TrainingJob) -> str:
    """A notice's message; once the job is billed (a terminal state), followed by its final cost."""
    if job.final_cost is None:
        return notice.message
    return f"{notice.message} Cost: {format_money(job.final_cost)}."


def _record_compute_cost(session: Session, job: TrainingJob, at: datetime) -> None:
    """One `training_compute` record for a terminal job that used compute (unique per job)."""
    if job.started_at is None or job.completed_at is None:
        return
    details: dict[str, Any] = {
        "gpu_type": job.gpu_config.get("type"),
        "gpu_count": job.gpu_config.get("count"),
        "duration_hours": str(elapsed_hours(job.started_at, job.completed_at).quantize(Decimal("0.000001"))),
        "started_at": job.started_at.isoformat(),
        "ended_at": job.completed_at.isoformat(),
        "status": job.status,
    }
    if job.budget_limit is not None:
        details["budget_limit"] = str(job.budget_limit)  # the amount is capped at it (`_finalise`)
    session.add(
        CostRecord(
            user_id=job.user_id,
            job_id=job.id,
            cost_type=COMPUTE_COST_TYPE,
            amount=job.final_cost or Decimal(0),
            details=details,
            billing_period=billing_period(job.completed_at),
            recorded_at=at,
        )
    )


def cancel_job(
    session: Session, user_id: int, job_id: uuid.UUID, *, actor: str, now: datetime
) -> TrainingJob | None:
    """A user's cancel, shared by the JSON API and the monitor page.

    `now` is when the user cancelled: it ends the billed time (`completed_at`), so the caller passes
    its clock as the cycle does (the edges pass `utcnow()`, tests their own clock).

    Returns None when the job does not exist or is not the user's (callers answer 404 for both).
    Cancel wins over a concurrent completion only if it commits first; the loser changes nothing.
    The cluster side is cancelled by the cycle, which retries until the cluster acknowledges.

    Raises:
        TransitionRefused: the job is already completed, failed or cancelled.
    """
    for _attempt in range(3):
        job = session.scalar(
            select(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.user_id == user_id)
        )
        if job is None:
            return None
        if job.status not in ACTIVE_STATUSES:
            raise TransitionRefused(f"Job is already {job.status}: only active jobs can be cancelled.")
        if transition(
            session,
            job,
            JobStatus.CANCELLED,
            actor=actor,
            at=now,
            values={"cancel_requested_at": now},
            details={"reason": "cancelled by the user"},
        ):
            return job
        session.expire(job)  # the status moved under us (e.g. just submitted); read it again
    raise TransitionRefused("The job changed state while cancelling; try again.")
