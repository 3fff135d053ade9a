"""What the monitor reads and does, through the service layer (services/), as plain JSON dicts.

The page never queries tables itself: the JSON API and the monitor call the same functions
(`get_job_for_user`, `metrics_payload`, `job_events`, `cancel_user_job`), so they cannot disagree
about what a user may see or do. Each function opens one short transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from api.runtime import get_runtime
from jobs.cancels import cancel_on_cluster_now
from pages._signed_in import signed_in_email, signed_in_user_id
from services.artifacts import job_artifact_json
from services.costs import PricingError, hourly_rate
from services.downsample import MetricsPayload
from services.errors import InvalidState, NotFound
from services.metrics import DEFAULT_MAX_POINTS, metrics_payload
from services.serialize import dataset_json, event_json, job_json
from services.training_jobs import cancel_user_job, get_job_for_user, job_events

if TYPE_CHECKING:
    from db.models import TrainingJob


@dataclass(frozen=True)
class MonitorSnapshot:
    """What one monitor read sees of a job: its JSON, its events (newest first), when asked its
    metric points and dataset, its GPUs' hourly rate (for the projected cost) and its owner's email
    (the Activity Log names the user who acted by it)."""

    job: dict[str, Any]
    events: list[dict[str, Any]]
    metrics: MetricsPayload | None
    dataset: dict[str, Any] | None
    hourly_rate: Decimal | None
    owner_email: str | None = None


def _rate(gpu_config: dict[str, Any]) -> Decimal | None:
    try:
        return hourly_rate(gpu_config.get("type"), gpu_config.get("count"))
    except PricingError:
        return None  # creation refuses unknown GPUs; a legacy row just shows no projection


@contextmanager
def own_job(job_id: str | None) -> Iterator[tuple[Session, int, TrainingJob] | None]:
    """The signed-in user's job in one short transaction, or None when there is no user or the job
    does not exist or is someone else's (the monitor's every read starts here)."""
    user_id = signed_in_user_id()
    if user_id is None or not job_id:
        yield None
        return
    with get_runtime().transaction() as session:
        job = get_job_for_user(session, user_id, job_id)
        yield None if job is None else (session, user_id, job)


def read_job(
    job_id: str | None,
    *,
    since_step: int | None = None,
    with_metrics: bool = True,
    with_dataset: bool = False,
) -> MonitorSnapshot | None:
    """The signed-in user's job, or None when it does not exist or is someone else's.

    ``since_step`` asks only for newer points (a tick); without it, the downsampled history
    (at most ``DEFAULT_MAX_POINTS`` per series, extremes kept) for a full render.
    """
    runtime = get_runtime()
    with own_job(job_id) as found:
        if found is None:
            return None
        session, _user_id, job = found
        metrics = (
            metrics_payload(
                session, job, max_points=DEFAULT_MAX_POINTS, since_step=since_step, cache=runtime.redis
            )
            if with_metrics
            else None
        )
        return MonitorSnapshot(
            job=job_json(job),
            events=[event_json(event) for event in job_events(session, job.id)],
            metrics=metrics,
            dataset=dataset_json(job.dataset) if with_dataset and job.dataset is not None else None,
            hourly_rate=_rate(dict(job.gpu_config or {})),
            owner_email=signed_in_email(),  # the job is the signed-in user's (get_job_for_user)
        )


def read_artifact(job_id: str | None) -> dict[str, Any] | None:
    """The signed-in user's job's adapter (`job.artifact` of the API, with a fresh link), or None."""
    with own_job(job_id) as found:
        if found is None:
            return None
        session, user_id, job = found
        settings = get_runtime().settings
        return job_artifact_json(
            session, job, user_id=user_id, secret_key=settings.secret_key, data_dir=settings.data_dir
        )


@dataclass(frozen=True)
class CancelOutcome:
    ok: bool
    message: str


def cancel_shown_job(job_id: str) -> CancelOutcome:
    """Cancel through the shared state machine; the message is what the user reads."""
    user_id = signed_in_user_id()
    if user_id is None:
        return CancelOutcome(False, "Your session has ended; sign in again to cancel.")
    runtime = get_runtime()
    try:
        with runtime.transaction() as session:
            job = cancel_user_job(session, user_id, job_id, actor=f"user:{user_id}", now=datetime.now(UTC))
            found = job.id
    except NotFound:
        return CancelOutcome(False, "This job no longer exists in your account.")
    except InvalidState as exc:
        return CancelOutcome(False, str(exc.details))
    cancel_on_cluster_now(runtime.sessions, runtime.settings, found, now=datetime.now(UTC))  # as the API does
    return CancelOutcome(True, "Job cancelled. Compute stops now; you are billed only for the time used.")
