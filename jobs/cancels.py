"""Stopping cancelled jobs on the cluster, retried every cycle until the cluster acknowledges.

A user's cancel is a state transition (services/transitions.py: `cancel_job`) that commits at once; the
cluster is told afterwards, here, because the cluster may be down at that moment. A 404 counts as
acknowledged: a job the cluster does not know is not running there.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from contract.results import ClusterBackend, ClusterError, ClusterNotFound
from db.models import JobStatus, TrainingJob
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
    """Cancelled jobs the cluster has not yet confirmed stopping: (job id, external id)."""
    rows = session.execute(
        select(TrainingJob.id, TrainingJob.external_job_id)
        .where(
            TrainingJob.status == JobStatus.CANCELLED.value,
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
