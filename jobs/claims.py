"""Claiming queued jobs for submission, with a lease so a dead worker's jobs come back.

A claim moves `queued → initializing` and stamps `claimed_at` and a fresh `claim_token`, locking the
rows it takes (`FOR UPDATE SKIP LOCKED` on PostgreSQL); later writes are guarded by the token
(docs/architecture.md §5, step 1).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from db.models import Dataset, JobStatus, TrainingJob
from db.session import rows_affected
from services.transitions import record_event, transition

DEFAULT_LEASE_SECONDS = 120.0


@dataclass(frozen=True)
class Claim:
    """A job this cycle owns until `claimed_at + lease`, with what its submission needs."""

    job_id: uuid.UUID
    claim_token: str
    storage_path: str
    hyperparameters: dict[str, Any]
    gpu_config: dict[str, Any]
    base_model: str
    queued_at: datetime
    reclaimed: bool


def claimable(now: datetime, lease_seconds: float) -> Any:
    """Queued jobs, and initializing jobs never submitted whose lease is gone (expired or released)."""
    stale = now - timedelta(seconds=lease_seconds)
    return or_(
        TrainingJob.status == JobStatus.QUEUED.value,
        and_(
            TrainingJob.status == JobStatus.INITIALIZING.value,
            # The cluster has it: never re-submit. Filtered here, not only in _reclaim, so rows we
            # would refuse cannot fill the `limit` and starve the queued jobs behind them.
            TrainingJob.external_job_id.is_(None),
            or_(TrainingJob.claimed_at.is_(None), TrainingJob.claimed_at < stale),
        ),
    )


def claim_jobs(session: Session, *, limit: int, lease_seconds: float, now: datetime) -> list[Claim]:
    """Claim up to `limit` jobs, oldest first, in the caller's (short) transaction."""
    jobs = session.scalars(
        select(TrainingJob)
        .where(claimable(now, lease_seconds))
        .order_by(TrainingJob.queued_at, TrainingJob.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=TrainingJob)
    ).all()
    claims = []
    for job in jobs:
        token = secrets.token_hex(16)
        reclaimed = job.status == JobStatus.INITIALIZING.value
        if reclaimed:
            taken = _reclaim(session, job, token, now)
        else:
            taken = transition(
                session,
                job,
                JobStatus.INITIALIZING,
                actor="processor",
                at=now,
                values={"claimed_at": now, "claim_token": token},
            )
        if not taken:
            continue
        dataset = session.get(Dataset, job.dataset_id)
        claims.append(
            Claim(
                job_id=job.id,
                claim_token=token,
                storage_path=dataset.storage_path if dataset is not None else "",
                hyperparameters=dict(job.hyperparameters or {}),
                gpu_config=dict(job.gpu_config or {}),
                base_model=job.base_model,
                queued_at=job.queued_at,
                reclaimed=reclaimed,
            )
        )
    return claims


def _reclaim(session: Session, job: TrainingJob, token: str, now: datetime) -> bool:
    previous = job.claim_token
    stmt = update(TrainingJob).where(
        TrainingJob.id == job.id,
        TrainingJob.status == JobStatus.INITIALIZING.value,
        TrainingJob.external_job_id.is_(None),
        TrainingJob.claim_token.is_(None) if previous is None else TrainingJob.claim_token == previous,
    )
    result = session.execute(
        stmt.values(claimed_at=now, claim_token=token, updated_at=now).execution_options(
            synchronize_session=False
        )
    )
    if rows_affected(result) != 1:
        return False
    record_event(
        session,
        job.id,
        "reclaimed",
        actor="processor",
        at=now,
        details={
            "previous_claimed_at": job.claimed_at.isoformat() if job.claimed_at else None,
            "submit_attempts": job.submit_attempts,
        },
    )
    return True
