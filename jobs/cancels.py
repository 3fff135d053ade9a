"""Stopping on the cluster every job PIPELINE gave up on, retried every cycle until it acknowledges.

Giving up is a state transition that commits at once and stamps `cancel_requested_at`: a user's
cancel (services/transitions.py: `cancel_job`), a budget stop (jobs/budgets.py), a job failed as
lost (jobs/poll.py: `fail_lost`). The cluster is told afterwards, here, because it may be down at
that moment. A 404 counts as acknowledged: a job the cluster does not know is not running there.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from contract.results import ClusterBackend, ClusterError, ClusterNotFound
from db.models import TERMINAL_STATUSES, JobStatus, TrainingJob
from db.session import rows_affected
from services.transitions import record_event

log = logging.getLogger(__name__)

MAX_CANCELS_PER_CYCLE = 200


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
        with sessions.begin() as session:
            confirmed = session.execute(
                update(TrainingJob)
                .where(TrainingJob.id == job_id, TrainingJob.cancel_confirmed_at.is_(None))
                .values(cancel_confirmed_at=now)
            )
            if rows_affected(confirmed):
                acknowledged += 1
                record_event(
                    session,
                    job_id,
                    "cluster_cancel_acknowledged",
                    at=now,
                    details={"external_job_id": external_job_id, "answer": answer},
                )
    return CancelSweep(acknowledged=acknowledged, failed=failed)
