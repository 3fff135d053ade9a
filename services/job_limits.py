"""Per-user limits on active work: how many jobs, how many GPUs at once, how much estimated spend.

Checked by `services.training_jobs.create_job`, the one way a job is created (API, configure page,
demo), so every path gives the same refusal. The check locks the user's row first: two creations by
the same user run one after the other and the second sees the first job (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import ACTIVE_STATUSES, TrainingJob, User
from services.errors import ServiceError
from services.serialize import money
from settings import Settings


@dataclass(frozen=True)
class UserLimits:
    max_active_jobs: int
    max_gpus: int
    max_active_spend: Decimal

    @classmethod
    def from_settings(cls, settings: Settings) -> UserLimits:
        return cls(
            max_active_jobs=settings.max_active_jobs_per_user,
            max_gpus=settings.max_gpus_per_user,
            max_active_spend=settings.max_active_spend_per_user,
        )


class LimitExceeded(ServiceError):
    """The job would take the user over a limit; `details` names it and says by how much (409)."""

    status = 409

    def __init__(self, limit: str, allowed: int | Decimal, would_be: int | Decimal, sentence: str) -> None:
        over_by = would_be - allowed
        super().__init__(
            "Over your limit",
            {
                "limit": limit,
                "allowed": _plain(allowed),
                "would_be": _plain(would_be),
                "over_by": _plain(over_by),
                "message": sentence,
            },
        )
        self.sentence = sentence


def _plain(value: int | Decimal) -> int | float | None:
    """Counts as integers; money as the API's exact money numbers (services.serialize.money)."""
    return value if isinstance(value, int) else money(value)


def _gpu_count(gpu_config: dict[str, Any]) -> int:
    count = gpu_config.get("count", 1)
    return count if isinstance(count, int) and not isinstance(count, bool) else 1


def check_limits(
    session: Session, user_id: int, *, gpu_count: int, estimated_cost: Decimal, limits: UserLimits
) -> None:
    """Refuse a new job that would take the user's active work over `limits`.

    Locks the user's row (SELECT ... FOR UPDATE) until the caller's transaction ends, so concurrent
    creations by one user are serialised; SQLite (embedded, one process) serialises writers anyway.

    Raises:
        LimitExceeded: the first limit the job would break, with the figures.
    """
    session.execute(select(User.id).where(User.id == user_id).with_for_update())
    rows = session.execute(
        select(TrainingJob.gpu_config, TrainingJob.estimated_total_cost).where(
            TrainingJob.user_id == user_id, TrainingJob.status.in_([s.value for s in ACTIVE_STATUSES])
        )
    ).all()
    jobs = len(rows) + 1
    if jobs > limits.max_active_jobs:
        raise LimitExceeded(
            "max_active_jobs",
            limits.max_active_jobs,
            jobs,
            f"You may have {limits.max_active_jobs} active jobs at once; this one would make {jobs}. "
            "Wait for one to finish, or cancel one.",
        )
    gpus = sum(_gpu_count(gpu_config or {}) for gpu_config, _ in rows) + gpu_count
    if gpus > limits.max_gpus:
        raise LimitExceeded(
            "max_gpus",
            limits.max_gpus,
            gpus,
            f"You may use {limits.max_gpus} GPUs at once; with this job your active jobs would use "
            f"{gpus}, {gpus - limits.max_gpus} over.",
        )
    spend = sum((cost or Decimal("0") for _, cost in rows), Decimal("0")) + estimated_cost
    if spend > limits.max_active_spend:
        over = spend - limits.max_active_spend
        raise LimitExceeded(
            "max_active_spend",
            limits.max_active_spend,
            spend,
            f"Your active jobs may be estimated at ${limits.max_active_spend:,.2f} in total; with this job "
            f"they would be ${spend:,.2f}, ${over:,.2f} over.",
        )
