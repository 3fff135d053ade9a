"""Stopping on the cluster every job PIPELINE gave up on: at once where we can, then every cycle until acknowledged.

Giving up is a state transition that commits at once and stamps `cancel_requested_at`: a user's
cancel (services/transitions.py: `cancel_job`), a budget stop (jobs/budgets.py), a job failed as
lost (jobs/poll.py: `fail_lost`). After a user's cancel the web request tells the cluster itself
(`cancel_on_cluster_now`: one try, short timeouts, as the specification's cancel route does);
whatever was not acknowledged, the processor retries every cycle (`retry_cluster_cancels`), because
the cluster may be down at that moment. A 404 counts as acknowledged: a job the cluster does not
know is not running there.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from contract.results import ClusterBackend, ClusterError, ClusterNotFound
from db.models import TERMINAL_STATUSES, JobStatus, TrainingJob
from db.session import rows_affected
from services.transitions import record_event

log = logging.getLogger(__name__)

MAX_CANCELS_PER_CYCLE = 200
# The web request's one try: at most ~3 s of a request spent on a cluster that does not answer.
QUICK_CANCEL_TIMEOUTS: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 2.0, "max_retries": 0}


@dataclass(frozen=True)
class CancelSweep:
    acknowledged: int
    failed: int


def pending_cluster_cancels(
    session: Session, limit: int = MAX_CANCELS_PER_CYCLE
) -> list[tuple[uuid.UUID, str]]:
    """Jobs we ended that the cluster has not yet confirmed stopping: (job id, external id).

    Every cancelled job (older rows may lack `cancel_requested_at`), and any other ended job whose
    stop we asked for (failed as lost)."""
    rows = session.execute(
        select(TrainingJob.id, TrainingJob.external_job_id)
        .where(
            or_(
                TrainingJob.status == JobStatus.CANCELLED.value,
                and_(
                    TrainingJob.status.in_([s.value for s in TERMINAL_STATUSES]),
                    TrainingJob.cancel_requested_at.is_not(None),
                ),
            ),
            TrainingJob.external_job_id.is_not(None),
            TrainingJob.cancel_confirmed_at.is_(None),
        )
        .order_by(TrainingJob.updated_at)
        .limit(limit)
    ).all()
    return [(row.id, str(row.external_job_id)) for row in rows]


def retry_cluster_cancels(
    sessions: sessionmaker[Session], client: ClusterBackend, *, now: datetime
) -> CancelSweep:
    with sessions() as session:
        pending = pending_cluster_cancels(session)
    acknowledged = failed = 0
    for job_id, external_job_id in pending:
        try:
            client.cancel(external_job_id)
            answer = "acknowledged"
        except ClusterNotFound:
            answer = "unknown to the cluster"
        except ClusterError as exc:
            failed += 1
            log.warning(
                "cluster cancel not acknowledged yet (%s): %s",
                exc.kind,
                exc.message,
                extra={"job_id": str(job_id), "external_job_id": external_job_id},
            )
            with sessions.begin() as session:
                record_event(
                    session,
                    job_id,
                    "cluster_cancel_failed",
                    at=now,
                    details={"kind": exc.kind, "error": exc.message[:500]},
                )
            continue
        if acknowledge_cancel(sessions, job_id, external_job_id, answer, now=now):
            acknowledged += 1
    return CancelSweep(acknowledged=acknowledged, failed=failed)


def acknowledge_cancel(
    sessions: sessionmaker[Session], job_id: uuid.UUID, external_job_id: str, answer: str, *, now: datetime
) -> bool:
    """Record that the cluster stopped the job (once: a second acknowledgement changes nothing)."""
    with sessions.begin() as session:
        confirmed = session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id, TrainingJob.cancel_confirmed_at.is_(None))
            .values(cancel_confirmed_at=now)
        )
        if not rows_affected(confirmed):
            return False
        record_event(
            session,
            job_id,
            "cluster_cancel_acknowledged",
            at=now,
            details={"external_job_id": external_job_id, "answer": answer},
        )
    return True


def cancel_on_cluster_now(
    sessions: sessionmaker[Session], settings: Any, job_id: uuid.UUID, *, now: datetime
) -> bool:
    """Tell the cluster about a cancel just committed: one try with short timeouts, never raises.

    Returns True when the cluster acknowledged (or does not know the job). A job never submitted
    has nothing to stop; a failed try is left to the processor's retries (`retry_cluster_cancels`).
    """
    from jobs.cluster import make_backend  # the backends import httpx/subprocess machinery: only when needed

    with sessions() as session:
        row = session.execute(
            select(TrainingJob.external_job_id, TrainingJob.cancel_confirmed_at).where(
                TrainingJob.id == job_id
            )
        ).one_or_none()
    if row is None or row.external_job_id is None or row.cancel_confirmed_at is not None:
        return False
    external_job_id = str(row.external_job_id)
    local = (getattr(settings, "gpu_cluster_backend", "http") or "http") == "local"
    try:
        backend = make_backend(settings, **({} if local else QUICK_CANCEL_TIMEOUTS))
        try:
            backend.cancel(external_job_id)
            answer = "acknowledged"
        except ClusterNotFound:
            answer = "unknown to the cluster"
        finally:
            backend.close()
    except ClusterError as exc:
        log.info(
            "immediate cluster cancel not acknowledged (%s); the processor retries: %s",
            exc.kind,
            exc.message,
            extra={"job_id": str(job_id), "external_job_id": external_job_id},
        )
        return False
    return acknowledge_cancel(sessions, job_id, external_job_id, answer, now=now)
