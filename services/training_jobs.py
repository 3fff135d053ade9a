"""Training jobs as a user sees them: estimate, create, read, list, cancel (the detail document: services/job_detail.py).

One service layer for the JSON API and the Dash pages (docs/architecture.md §2), so both give the same answers
and the same refusals. Functions take the caller's session and the acting user's id; a job that is
not the user's is reported exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from db.base import utcnow
from db.models import CostRecord, Dataset, DatasetStatus, JobEvent, JobStatus, TrainingJob
from services.datasets import get_dataset_for_user
from services.errors import InvalidState, ValidationError, job_not_found
from services.job_config import JobConfig, JobEstimate, estimate_job_config, resolve_job_config
from services.job_limits import UserLimits, check_limits
from services.transitions import TransitionRefused, cancel_job, record_event

MAX_PAGE_SIZE = 100
EVENTS_LIMIT = 200


@dataclass(frozen=True)
class JobPage:
    items: list[TrainingJob]
    total: int
    limit: int
    offset: int


def parse_job_id(job_id: uuid.UUID | str) -> uuid.UUID | None:
    """A UUID from a path segment or form value; None for anything that is not one."""
    if isinstance(job_id, uuid.UUID):
        return job_id
    try:
        return uuid.UUID(str(job_id))
    except ValueError:
        return None


def get_job_for_user(
    session: Session, user_id: int, job_id: uuid.UUID | str, *, with_dataset: bool = False
) -> TrainingJob | None:
    """The job if it exists and is `user_id`'s; None otherwise (including a malformed id).
    `with_dataset` loads its dataset in the same statement (the job detail shows it)."""
    parsed = parse_job_id(job_id)
    if parsed is None:
        return None
    query = select(TrainingJob).where(TrainingJob.id == parsed, TrainingJob.user_id == user_id)
    if with_dataset:
        query = query.options(joinedload(TrainingJob.dataset))
    return session.scalar(query)


def _ready_dataset(session: Session, user_id: int, dataset_id: int) -> Dataset:
    dataset = get_dataset_for_user(session, user_id, dataset_id)
    if dataset is None:
        raise ValidationError({"dataset_id": f"no dataset {dataset_id} in your account"})
    if dataset.status != DatasetStatus.READY.value:
        raise ValidationError({"dataset_id": f"dataset {dataset_id} is {dataset.status}, not ready"})
    return dataset


def estimate_job(session: Session, user_id: int, payload: Mapping[str, Any]) -> tuple[JobConfig, JobEstimate]:
    """Validate a job request and price it against the user's dataset, storing nothing.

    Raises:
        ValidationError: per-field errors (hyperparameters, GPU, a dataset that is not yours or not ready).
    """
    config = resolve_job_config(payload)
    dataset = _ready_dataset(session, user_id, config.dataset_id)
    return config, estimate_job_config(config, dataset.total_training_pairs, dataset.total_tokens)


def create_job(
    session: Session, user_id: int, payload: Mapping[str, Any], *, actor: str, limits: UserLimits
) -> tuple[TrainingJob, JobEstimate]:
    """Create a `queued` job with its totals, estimated cost and a `queued` event (caller commits).

    The user's row stays locked until the caller commits (services.job_limits), so two creations
    by one user cannot both pass the limits.

    Raises:
        ValidationError: as `estimate_job`; nothing is added to the session then.
        LimitExceeded: the job would take the user over `limits`; nothing is added either.
    """
    config, estimate = estimate_job(session, user_id, payload)
    check_limits(
        session,
        user_id,
        gpu_count=int(config.gpu_config.get("count", 1)),
        estimated_cost=estimate.estimated_total_cost,
        limits=limits,
    )
    now = utcnow()
    hyperparameters = dict(config.hyperparameters)
    if config.name:
        hyperparameters["name"] = config.name  # where notifications look for the job's label
    job = TrainingJob(
        id=uuid.uuid4(),
        user_id=user_id,
        dataset_id=config.dataset_id,
        preset_id=config.preset_id,
        base_model=config.base_model,
        hyperparameters=hyperparameters,
        gpu_config=dict(config.gpu_config),
        status=JobStatus.QUEUED.value,
        progress=0.0,
        total_epochs=estimate.total_epochs,
        total_steps=estimate.total_steps,
        estimated_total_cost=estimate.estimated_total_cost,
        budget_limit=config.budget_limit,
        health_checks=dict(config.health_checks),
        queued_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    record_event(
        session,
        job.id,
        "queued",
        actor=actor,
        to_status=JobStatus.QUEUED.value,
        at=now,
        details={"estimate": estimate.as_dict()},
    )
    session.flush()
    return job, estimate


def parse_statuses(statuses: Iterable[str] | str | None) -> list[str]:
    """Status filter values (comma-separated or a list), each checked against JobStatus."""
    if statuses is None:
        return []
    values = statuses.split(",") if isinstance(statuses, str) else list(statuses)
    cleaned = [value.strip() for value in values if value and value.strip()]
    unknown = [value for value in cleaned if value not in {status.value for status in JobStatus}]
    if unknown:
        choices = ", ".join(status.value for status in JobStatus)
        raise ValidationError({"status": f"unknown status {', '.join(unknown)}; use {choices}"})
    return cleaned


def list_jobs(
    session: Session,
    user_id: int,
    *,
    statuses: Iterable[str] | str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> JobPage:
    """The user's jobs, newest first, optionally only those in `statuses`.

    Raises:
        ValidationError: an unknown status (field `status`).
    """
    wanted = parse_statuses(statuses)
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    offset = max(0, offset)
    conditions = [TrainingJob.user_id == user_id]
    if wanted:
        conditions.append(TrainingJob.status.in_(wanted))
    total = int(session.scalar(select(func.count()).select_from(TrainingJob).where(*conditions)) or 0)
    items = session.scalars(
        select(TrainingJob)
        .where(*conditions)
        .order_by(TrainingJob.created_at.desc(), TrainingJob.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return JobPage(items=list(items), total=total, limit=limit, offset=offset)


def cancel_user_job(
    session: Session, user_id: int, job_id: uuid.UUID | str, *, actor: str, now: datetime
) -> TrainingJob:
    """Cancel the user's active job at `now` (the state machine writes event, notification and final cost).

    Raises:
        NotFound: no such job for this user.
        InvalidState: the job is already completed, failed or cancelled.
    """
    parsed = parse_job_id(job_id)
    if parsed is None:
        raise job_not_found(job_id)
    try:
        job = cancel_job(session, user_id, parsed, actor=actor, now=now)
    except TransitionRefused as exc:
        raise InvalidState("Job cannot be cancelled", str(exc)) from None
    if job is None:
        raise job_not_found(job_id)
    return job


def job_events(session: Session, job_id: uuid.UUID, *, limit: int = EVENTS_LIMIT) -> list[JobEvent]:
    """The activity log, newest first (the most recent `limit` entries)."""
    return list(
        session.scalars(
            select(JobEvent)
            .where(JobEvent.job_id == job_id)
            .order_by(JobEvent.at.desc(), JobEvent.id.desc())
            .limit(limit)
        ).all()
    )


def job_cost_records(session: Session, job_id: uuid.UUID) -> list[CostRecord]:
    """A job's cost records, newest first (as the specification orders them)."""
    newest_first = (CostRecord.recorded_at.desc(), CostRecord.id.desc())
    return list(
        session.scalars(select(CostRecord).where(CostRecord.job_id == job_id).order_by(*newest_first)).all()
    )
