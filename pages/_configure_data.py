"""What `/training/configure` reads and does, through services.training_jobs: the functions behind
`POST /api/jobs/estimate` and `POST /api/jobs`, each call in one short transaction.

Refusals are the service's ``ValidationError`` with per-field messages, for the page to show under
its fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.runtime import get_runtime
from pages._datasets_data import user_datasets
from services.datasets import TRAINABLE_STATUS
from services.job_clone import clone_request
from services.job_config import JobEstimate, budget_warning
from services.job_limits import UserLimits
from services.serialize import job_json
from services.training_jobs import create_job, estimate_job, get_job_for_user


def ready_datasets(user_id: int) -> list[dict[str, Any]]:
    """The user's datasets a new job may train on, in the API's shape."""
    return [d for d in user_datasets(user_id) if d["status"] == TRAINABLE_STATUS]


def estimate_new_job(user_id: int, payload: Mapping[str, Any]) -> tuple[JobEstimate, str | None]:
    """Steps, duration and cost of the job the form describes, and the warning when the estimate is
    over its budget (as `POST /api/jobs/estimate` answers). Stores nothing.

    Raises:
        ValidationError: a field is missing or out of range, or the dataset is not the user's.
    """
    with get_runtime().transaction() as session:
        config, estimate = estimate_job(session, user_id, payload)
    return estimate, budget_warning(estimate.estimated_total_cost, config.budget_limit)


def create_queued_job(user_id: int, payload: Mapping[str, Any], *, actor: str) -> str:
    """The id of the new queued job (as `POST /api/jobs` creates it).

    Raises:
        ValidationError: as ``estimate_new_job``; nothing is stored.
        LimitExceeded: the job would take the user over a per-user limit; nothing is stored.
    """
    runtime = get_runtime()
    limits = UserLimits.from_settings(runtime.settings)
    with runtime.transaction() as session:
        job, _estimate = create_job(session, user_id, payload, actor=actor, limits=limits)
        return str(job.id)


def job_to_clone(user_id: int, job_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the create request copying the user's job, its API JSON), or None when the id is not one
    of the user's jobs (another user's id prefills nothing and says nothing about that job)."""
    with get_runtime().transaction() as session:
        job = get_job_for_user(session, user_id, job_id)
        if job is None:
            return None
        as_json = job_json(job)
        return clone_request(as_json, job), as_json
