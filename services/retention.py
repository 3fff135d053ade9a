"""Retention of raw metric points: the operator's `lora-pipeline metrics prune`.

Raw points of a job that ended long ago are deleted in bounded batches, each its own short
transaction, so no statement holds many row locks or a long transaction. Only terminal jobs are
touched (a terminal state is never left, docs/architecture.md §4); every batch re-checks that the
job is terminal and ended before the cutoff, so nothing a running job writes is ever removed.
Each pruned job gets one `raw_points_pruned` event, written with its last batch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import TERMINAL_STATUSES, MetricPoint, TrainingJob
from db.session import rows_affected
from services.transitions import record_event

DEFAULT_BATCH_ROWS = 10_000
PRUNED_EVENT = "raw_points_pruned"
Transaction = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class PrunePlan:
    """What a prune would delete: raw point counts by job, and the cutoff it used."""

    cutoff: datetime
    points_by_job: dict[uuid.UUID, int]

    @property
    def points(self) -> int:
        return sum(self.points_by_job.values())


@dataclass
class PruneResult:
    """What a prune did (or, on a dry run, would do)."""

    cutoff: datetime
    dry_run: bool
    jobs: int = 0
    points: int = 0
    seconds: float = 0.0
    batches: int = 0
    points_by_job: dict[uuid.UUID, int] = field(default_factory=dict)


def _ended_before(cutoff: datetime) -> ColumnElement[bool]:
    """Terminal and ended before `cutoff` (a terminal job without an end time counts by its last update)."""
    ended = func.coalesce(TrainingJob.completed_at, TrainingJob.updated_at)
    return TrainingJob.status.in_([s.value for s in TERMINAL_STATUSES]) & (ended < cutoff)


def plan_prune(session: Session, older_than: timedelta, now: datetime | None = None) -> PrunePlan:
    """The terminal jobs that ended more than `older_than` ago and still have raw points."""
    cutoff = (now or utcnow()) - older_than
    rows = session.execute(
        select(MetricPoint.job_id, func.count())
        .join(TrainingJob, TrainingJob.id == MetricPoint.job_id)
        .where(_ended_before(cutoff))
        .group_by(MetricPoint.job_id)
    ).all()
    return PrunePlan(cutoff, {job_id: int(count) for job_id, count in rows})


def delete_batch(session: Session, job_id: uuid.UUID, cutoff: datetime, batch_rows: int) -> int:
    """Delete the job's `batch_rows` lowest steps, only while it is terminal and ended before
    `cutoff`; the number deleted. A range of the (job_id, step) index, never a scan by row id."""
    prunable = select(TrainingJob.id).where(TrainingJob.id == job_id, _ended_before(cutoff))
    if session.scalar(prunable) is None:
        return 0
    batch = delete(MetricPoint).where(MetricPoint.job_id == job_id)
    bound = session.scalar(
        select(MetricPoint.step)
        .where(MetricPoint.job_id == job_id)
        .order_by(MetricPoint.step)
        .offset(batch_rows - 1)
        .limit(1)
    )
    if bound is not None:
        batch = batch.where(MetricPoint.step <= bound)
    return rows_affected(session.execute(batch.execution_options(synchronize_session=False)))


def prune_job(
    transaction: Transaction, job_id: uuid.UUID, cutoff: datetime, older_than_days: float, batch_rows: int
) -> tuple[int, int]:
    """Delete one job's raw points batch by batch; (points deleted, batches). The event goes into the
    transaction of the batch that finds nothing more to delete, so it is written once per job."""
    deleted = batches = 0
    while True:
        with transaction() as session:
            count = delete_batch(session, job_id, cutoff, batch_rows)
            batches += 1
            deleted += count
            if count < batch_rows:
                if deleted:
                    details = {"points": deleted, "older_than_days": older_than_days}
                    record_event(session, job_id, PRUNED_EVENT, actor="operator", details=details)
                return deleted, batches


def prune_raw_points(
    transaction: Transaction,
    older_than: timedelta,
    *,
    dry_run: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    now: datetime | None = None,
) -> PruneResult:
    """Delete the raw points of terminal jobs that ended more than `older_than` ago.

    Args:
        transaction: opens one unit of work (commit on success); called once per batch.
        older_than: how long ago a job must have ended; must be positive.
        dry_run: count what would go, delete nothing.
        batch_rows: the most rows one transaction deletes.

    Raises:
        ValueError: `older_than` is not positive or `batch_rows` is below 1.
    """
    if older_than <= timedelta(0):
        raise ValueError("the age must be positive")
    if batch_rows < 1:
        raise ValueError("the batch size must be at least 1")
    started = time.perf_counter()
    with transaction() as session:
        plan = plan_prune(session, older_than, now)
    result = PruneResult(cutoff=plan.cutoff, dry_run=dry_run)
    days = older_than / timedelta(days=1)
    for job_id, planned in sorted(plan.points_by_job.items()):
        count, batches = (
            (planned, 0) if dry_run else prune_job(transaction, job_id, plan.cutoff, days, batch_rows)
        )
        result.batches += batches
        if count:
            result.jobs += 1
            result.points += count
            result.points_by_job[job_id] = count
    result.seconds = time.perf_counter() - started
    return result
