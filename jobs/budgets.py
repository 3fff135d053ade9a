"""Budget limits: the processor stops a running job before its cost passes the budget the user set.

A job is stopped when its cost *by the next cycle* would pass the budget, so neither the cluster time
nor the bill goes past it; it ends `cancelled` through the one cancel path, with the reason kept.
Why this timing and this status: docs/architecture.md §9 and §4.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from db.models import JobStatus, TrainingJob
from jobs.confined import DATA_FAULTS, SYSTEM_FAULTS, record_write_failure
from logging_setup import log_context
from services.costs import format_money
from services.ingest import JobSnapshot, accrued_cost
from services.transitions import Notice, job_label, transition

BUDGET_STOP_EVENT = "budget_stop"  # the webhook event of this cancel (services/webhooks.py)

log = logging.getLogger(__name__)


def budget_stop_due(job: JobSnapshot, now: datetime, horizon_seconds: float) -> bool:
    """Whether `job`'s cost would pass its budget within `horizon_seconds` of `now` (the time to
    the next cycle): then it must stop now. False without a budget, a start or a price."""
    if job.budget_limit is None or job.status != JobStatus.RUNNING.value:
        return False
    # Uncapped (no budget passed): the cost the job would run up, 0 before start or if unpriceable.
    by_next_cycle = accrued_cost(job.gpu_config, job.started_at, now + timedelta(seconds=horizon_seconds))
    return by_next_cycle > job.budget_limit  # reaching the budget exactly is within it


def budget_stop_reason(budget_limit: Decimal) -> str:
    """The job's `error_message` after a budget stop, as users read it on the monitor and in the API."""
    return f"Stopped: budget limit {format_money(budget_limit)} reached"


def stop_over_budget(
    sessions: sessionmaker[Session], jobs: Sequence[JobSnapshot], *, now: datetime, horizon_seconds: float
) -> int:
    """Stop every job of `jobs` whose budget would run out before the next cycle; how many stopped.

    `jobs` is the cycle's snapshot of running jobs; one that finished meanwhile (this cycle's poll,
    a callback, a user's cancel) is left alone by the state machine's conditional UPDATE.
    """
    stopped = 0
    for job in jobs:
        if not budget_stop_due(job, now, horizon_seconds):
            continue
        try:
            with sessions.begin() as session, log_context(job_id=str(job.id)):
                if stop_for_budget(session, job.id, now=now):
                    stopped += 1
        except SYSTEM_FAULTS:
            raise
        except DATA_FAULTS as exc:  # one job's write; the other jobs' budgets still count
            record_write_failure(sessions, job.id, exc, now=now, step="budget stop")
    return stopped


def stop_for_budget(session: Session, job_id: uuid.UUID, *, now: datetime) -> bool:
    """Cancel a running job for its budget in the caller's transaction; False if it had moved on.

    One transition: status, `error_message`, `cancel_requested_at` (the cycle then tells the
    cluster), the event, the notification and the capped cost record commit together or not at all.
    """
    job = session.get(TrainingJob, job_id, populate_existing=True)
    if job is None or job.status != JobStatus.RUNNING.value or job.budget_limit is None:
        return False
    reason = budget_stop_reason(job.budget_limit)
    stopped = transition(
        session,
        job,
        JobStatus.CANCELLED,
        actor="processor",
        at=now,
        values={"cancel_requested_at": now, "error_message": reason},
        details={"reason": reason, "budget_limit": str(job.budget_limit)},
        notice=Notice(
            "Budget Limit Reached",
            f"Job {job_label(job)} was stopped before its cost passed its budget limit of "
            f"{format_money(job.budget_limit)}.",
            priority="high",  # unlike a cancel, the user did not just ask for it
            event=BUDGET_STOP_EVENT,
        ),
    )
    if stopped:
        log.info("job stopped at its budget limit %s; cost %s", job.budget_limit, job.final_cost)
    return stopped
