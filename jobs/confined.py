"""Writing a cycle's reports so that one job's bad data stays that job's problem.

The cycle applies every plan in one transaction (services/ingest.apply_plans: one statement per
kind). When that fails, the batch is split in halves and each half retried in its own transaction,
down to the single plan that fails; that job gets a `write_failed` event and the rest of the batch
is stored. A fault that is not about one job's data (the database gone, a deadlock) is not split:
it ends ingestion for this cycle and the next one retries (docs/architecture.md §5).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from contract.parsing import clean_text
from logging_setup import log_context
from services.ingest import IngestPlan, apply_plans
from services.transitions import record_event

log = logging.getLogger(__name__)

T = TypeVar("T")

# Not about one job's data: splitting the batch would only repeat the failure once per job.
SYSTEM_FAULTS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)
# What one job's data can make a write raise: the database refusing a value (DataError,
# IntegrityError, a StatementError around the driver's ValueError for a NUL byte), or our own
# code refusing it while building rows.
DATA_FAULTS: tuple[type[BaseException], ...] = (SQLAlchemyError, ValueError, TypeError, OverflowError)


@dataclass
class ConfinedResult:
    points_inserted: int = 0
    failed: list[uuid.UUID] = field(default_factory=list)  # jobs whose write failed alone


def describe_failure(exc: BaseException) -> str:
    """A short, storable description of a write failure: the driver's message, never the SQL or
    its parameters (SQLAlchemy's text quotes them, and a parameter may be the bad value itself)."""
    cause = getattr(exc, "orig", None) or exc
    return clean_text(f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}", 300)


def apply_confined(
    sessions: sessionmaker[Session], plans: Sequence[IngestPlan], *, source: str, now: datetime
) -> ConfinedResult:
    """Apply `plans` in as few transactions as the data allows; see the module doc."""
    result = ConfinedResult()

    def apply(batch: Sequence[IngestPlan]) -> None:
        with sessions.begin() as session:
            result.points_inserted += apply_plans(session, batch, source=source, now=now).points_inserted

    def give_up(plan: IngestPlan, exc: BaseException) -> None:
        result.failed.append(plan.job.id)
        record_write_failure(sessions, plan.job.id, exc, now=now, step="ingest")

    run_bisected(plans, apply, give_up)
    return result


def run_bisected(
    items: Sequence[T], apply: Callable[[Sequence[T]], None], give_up: Callable[[T, BaseException], None]
) -> None:
    """`apply(items)`; on a data fault, the halves on their own, down to the items that fail alone
    (each handed to `give_up`). A system fault propagates at once."""
    if not items:
        return
    try:
        apply(items)
        return
    except SYSTEM_FAULTS:
        raise
    except DATA_FAULTS as exc:
        if len(items) == 1:
            give_up(items[0], exc)
            return
    middle = len(items) // 2
    run_bisected(items[:middle], apply, give_up)
    run_bisected(items[middle:], apply, give_up)


def record_write_failure(
    sessions: sessionmaker[Session], job_id: uuid.UUID, exc: BaseException, *, now: datetime, step: str
) -> None:
    """Note on the job that the cycle could not write what the cluster reported (its own transaction)."""
    message = describe_failure(exc)
    with log_context(job_id=str(job_id)):
        log.error("cycle could not write this job's %s; the rest of the batch went on: %s", step, message)
    details: dict[str, Any] = {"step": step, "error": message}
    try:
        with sessions.begin() as session:
            record_event(session, job_id, "write_failed", actor="processor", at=now, details=details)
    except SQLAlchemyError:
        log.exception("could not record the write failure of job %s either", job_id)
