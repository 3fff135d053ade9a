"""Submitting a claimed job to the cluster, outside any transaction, and saving the answer.

The job id is the idempotency key. Accepted → `running`; rejected → `failed` with the cluster's
message; transient → released and retried up to a limit; our configuration wrong → released without
counting the attempt (docs/architecture.md §5, step 2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from contract.results import (
    ClusterBackend,
    ClusterConfigError,
    ClusterError,
    ClusterRejected,
    SubmitRequest,
)
from contract.signing import derive_job_secret, signed_dataset_url
from db.models import JobStatus, TrainingJob
from db.session import rows_affected
from jobs.claims import Claim
from services.costs import PricingError, hourly_rate
from services.transitions import record_event, transition
from settings import Settings

log = logging.getLogger(__name__)

MAX_SUBMIT_ATTEMPTS = 5
SUBMIT_GIVE_UP_SECONDS = 30 * 60
CALLBACK_PATH = "/api/training-callback"

Clock = Callable[[], datetime]
AfterSubmit = Callable[[Claim, str], None]


class SubmitOutcome(StrEnum):
    SUBMITTED = "submitted"
    REJECTED = "rejected"
    RETRY = "retry"
    GAVE_UP = "gave_up"
    CONFIG_ERROR = "config_error"
    LOST_CLAIM = "lost_claim"


def submit_request(settings: Settings, claim: Claim) -> SubmitRequest:
    """What the cluster gets: ids, a signed time-limited dataset URL, the job's settings, and the
    job's own callback secret. No secret of ours beyond that one-file URL and that one-job secret
    (the request's repr hides both)."""
    job_id = str(claim.job_id)
    return SubmitRequest(
        job_id=job_id,
        dataset_url=signed_dataset_url(settings.secret_key, settings.public_base_url, claim.storage_path),
        hyperparameters=claim.hyperparameters,
        gpu_config=claim.gpu_config,
        callback_url=f"{settings.public_base_url}{CALLBACK_PATH}",
        callback_secret=derive_job_secret(settings.secret_key, job_id),
    )


def submit_claimed(
    sessions: sessionmaker[Session],
    client: ClusterBackend,
    settings: Settings,
    claim: Claim,
    *,
    clock: Clock,
    after_submit: AfterSubmit | None = None,
) -> SubmitOutcome:
    """Submit one claimed job and record the result; each database write is its own short transaction."""
    with sessions.begin() as session:
        attempts = _count_attempt(session, claim)
        if attempts is None:
            return SubmitOutcome.LOST_CLAIM  # cancelled, or another worker holds a newer lease
        try:
            hourly_rate(claim.gpu_config.get("type"), claim.gpu_config.get("count"))
        except PricingError as exc:
            _fail(session, claim, f"This GPU configuration cannot be priced: {exc}.", clock())
            return SubmitOutcome.REJECTED
    try:
        result = client.submit(submit_request(settings, claim))
    except ClusterRejected as exc:
        message = exc.cluster_message or exc.message
        with sessions.begin() as session:
            _fail(session, claim, f"The cluster rejected the job: {message}", clock())
        return SubmitOutcome.REJECTED
    except ClusterConfigError as exc:
        log.error("cluster refused our credentials; jobs stay queued: %s", exc.message)
        with sessions.begin() as session:
            _release(session, claim, exc, clock(), uncount=True)
        return SubmitOutcome.CONFIG_ERROR
    except ClusterError as exc:
        return _after_transient(sessions, claim, exc, attempts, clock())
    if after_submit is not None:
        after_submit(claim, result.external_job_id)
    with sessions.begin() as session:
        return _save_submitted(session, claim, result.external_job_id, clock())


def _count_attempt(session: Session, claim: Claim) -> int | None:
    """Count the attempt before calling out, so a worker killed mid-submit still counts it."""
    row = session.execute(
        update(TrainingJob)
        .where(
            TrainingJob.id == claim.job_id,
            TrainingJob.status == JobStatus.INITIALIZING.value,
            TrainingJob.claim_token == claim.claim_token,
        )
        .values(submit_attempts=TrainingJob.submit_attempts + 1)
        .returning(TrainingJob.submit_attempts)
    ).first()
    return None if row is None else int(row[0])


def _job(session: Session, claim: Claim) -> TrainingJob | None:
    return session.get(TrainingJob, claim.job_id, populate_existing=True)


def _fail(session: Session, claim: Claim, message: str, now: datetime) -> bool:
    job = _job(session, claim)
    if job is None or job.status != JobStatus.INITIALIZING.value:
        return False
    return transition(
        session,
        job,
        JobStatus.FAILED,
        actor="processor",
        at=now,
        claim_token=claim.claim_token,
        values={"error_message": message},
        details={"reason": message},
    )


def _release(session: Session, claim: Claim, error: ClusterError, now: datetime, *, uncount: bool) -> None:
    """Give the claim back (claimed_at NULL) so the next cycle tries again."""
    values: dict[str, object] = {"claimed_at": None, "updated_at": now}
    if uncount:
        values["submit_attempts"] = TrainingJob.submit_attempts - 1
    released = session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == claim.job_id, TrainingJob.claim_token == claim.claim_token)
        .where(TrainingJob.status == JobStatus.INITIALIZING.value)
        .values(**values)
    )
    if rows_affected(released):
        record_event(
            session,
            claim.job_id,
            "submit_failed",
            actor="processor",
            at=now,
            details={"kind": error.kind, "error": error.message[:500], "will_retry": True},
        )


def _after_transient(
    sessions: sessionmaker[Session], claim: Claim, error: ClusterError, attempts: int, now: datetime
) -> SubmitOutcome:
    waited = now - claim.queued_at
    with sessions.begin() as session:
        if attempts >= MAX_SUBMIT_ATTEMPTS or waited > timedelta(seconds=SUBMIT_GIVE_UP_SECONDS):
            minutes = max(1, int(waited.total_seconds() // 60))
            _fail(
                session,
                claim,
                f"Could not submit the job to the cluster after {attempts} attempts over {minutes} min; "
                f"last error: {error.message}",
                now,
            )
            return SubmitOutcome.GAVE_UP
        _release(session, claim, error, now, uncount=False)
    log.warning("submit failed (%s), will retry next cycle: %s", error.kind, error.message)
    return SubmitOutcome.RETRY


def _save_submitted(session: Session, claim: Claim, external_job_id: str, now: datetime) -> SubmitOutcome:
    job = _job(session, claim)
    if job is not None and transition(
        session,
        job,
        JobStatus.RUNNING,
        actor="processor",
        at=now,
        claim_token=claim.claim_token,
        values={"external_job_id": external_job_id, "started_at": now, "last_seen_at": now},
        details={"external_job_id": external_job_id, "reclaimed": claim.reclaimed},
    ):
        return SubmitOutcome.SUBMITTED
    # Cancelled while we were submitting: keep the external id so the cancel loop stops it.
    adopted = session.execute(
        update(TrainingJob)
        .where(
            TrainingJob.id == claim.job_id,
            TrainingJob.status == JobStatus.CANCELLED.value,
            TrainingJob.external_job_id.is_(None),
        )
        .values(external_job_id=external_job_id)
    )
    if rows_affected(adopted):
        record_event(
            session,
            claim.job_id,
            "submitted_after_cancel",
            actor="processor",
            at=now,
            details={"external_job_id": external_job_id},
        )
    return SubmitOutcome.LOST_CLAIM
