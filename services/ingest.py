"""The one ingestion path for what a cluster reports about a job, by poll or by signed callback.

A report becomes its points (stored once per step), one forward-only progress row for a running job,
a note for dropped values, and for a terminal report the state-machine transition, all in the
caller's transaction. The cycle plans many jobs and applies them with one statement per kind
(`apply_plans`); a callback calls `ingest_status` (docs/architecture.md §6).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from contract.results import ClusterJobStatus, JobStatusReport, MetricsPoint
from db.metric_store import PointRow, insert_points, point_rows
from db.models import JobEvent, JobStatus, ModelArtifact, TrainingJob
from db.progress import ProgressRow, update_progress
from services.costs import PricingError, cap_to_budget, compute_cost, hourly_rate
from services.plausibility import billed_window, plausible_points, plausible_step_limit
from services.run_health import check_health
from services.transitions import record_event, transition
from settings import DEFAULT_CLUSTER_CLOCK_SKEW_SECONDS

DEFAULT_CLOCK_SKEW = timedelta(seconds=DEFAULT_CLUSTER_CLOCK_SKEW_SECONDS)

_TERMINAL = {
    ClusterJobStatus.COMPLETED: JobStatus.COMPLETED,
    ClusterJobStatus.FAILED: JobStatus.FAILED,
    ClusterJobStatus.CANCELLED: JobStatus.CANCELLED,
}


@dataclass(frozen=True)
class JobSnapshot:
    """What ingestion needs to know about a job, read in one query for all running jobs."""

    id: uuid.UUID
    user_id: int
    status: str
    external_job_id: str | None
    current_step: int
    total_steps: int
    started_at: datetime | None
    gpu_config: dict[str, Any]
    last_seen_at: datetime | None = None
    last_point_step: int | None = None
    budget_limit: Decimal | None = None
    last_polled_at: datetime | None = None  # after last_seen_at: the polls since then failed

    @classmethod
    def of(cls, job: TrainingJob | Any, *, last_point_step: int | None = None) -> JobSnapshot:
        """From a loaded job, or from a row of the same columns (the poll's one-query load)."""
        return cls(
            id=job.id,
            user_id=job.user_id,
            status=job.status,
            external_job_id=job.external_job_id,
            current_step=job.current_step or 0,
            total_steps=job.total_steps or 0,
            started_at=job.started_at,
            gpu_config=dict(job.gpu_config or {}),
            last_seen_at=job.last_seen_at,
            last_point_step=last_point_step,
            budget_limit=job.budget_limit,
            last_polled_at=getattr(job, "last_polled_at", None),
        )


@dataclass
class IngestPlan:
    """Everything one report will write, computed without touching the database."""

    job: JobSnapshot
    report: JobStatusReport
    points: list[PointRow]
    progress: ProgressRow
    notes: tuple[str, ...]
    terminal: JobStatus | None


@dataclass
class IngestResult:
    points_inserted: int = 0
    jobs_updated: int = 0
    finished: list[uuid.UUID] = field(default_factory=list)


def accrued_cost(
    gpu_config: dict[str, Any],
    started_at: datetime | None,
    now: datetime,
    budget_limit: Decimal | None = None,
) -> Decimal:
    """Cost so far: price × count × hours since started (0 before start or if unpriceable), never
    more than the budget: what is shown as spent is what would be billed (jobs/costs.cap_to_budget)."""
    if started_at is None:
        return Decimal(0)
    try:
        rate = hourly_rate(gpu_config.get("type"), gpu_config.get("count"))
    except PricingError:
        return Decimal(0)  # claims fail such jobs before submit; never a NaN here
    return cap_to_budget(compute_cost(rate, started_at, now), budget_limit)


def latest_point(report: JobStatusReport) -> tuple[MetricsPoint, ...]:
    """For a cluster that sends no history (no `since_step` support): its latest values, as the
    point of its current step. Never when a history list was sent, even empty: then the latest
    values belong to the last logged step, already stored, not to the current one."""
    if report.history_included or not report.current_step or report.metrics.is_empty:
        return ()
    return (MetricsPoint(step=report.current_step, epoch=report.current_epoch, metrics=report.metrics),)


def plan_ingest(
    job: JobSnapshot, report: JobStatusReport, now: datetime, *, clock_skew: timedelta = DEFAULT_CLOCK_SKEW
) -> IngestPlan:
    """Turn one validated report into rows; pure (no I/O), so it is cheap for thousands of jobs.

    Only what is plausible for this job counts (services/plausibility.py): a step far past its
    length is refused with a note, the rest of the report is kept.
    """
    notes = list(report.notes)
    total = report.total_steps or job.total_steps or 0
    step_limit = plausible_step_limit(total)
    history = plausible_points(
        report.metrics_history or latest_point(report),
        step_limit=step_limit,
        earliest=job.started_at - clock_skew if job.started_at else None,
        latest=now + clock_skew,
        notes=notes,
    )
    points = point_rows(job.id, history, default_time=now)
    last_point = history[-1] if report.metrics_history and history else None
    current_step = report.current_step
    if current_step is not None and current_step > step_limit:
        notes.append(f"current_step: refused {current_step}, past step {step_limit}")
        current_step = None
    step = max(current_step or 0, last_point.step if last_point else 0, 0)
    if report.progress is not None:
        progress = report.progress
    elif total:
        progress = min(100.0, 100.0 * step / total)
    else:
        progress = 0.0
    metrics = report.metrics.as_dict() or (last_point.metrics.as_dict() if last_point else {})
    epoch = report.current_epoch
    if epoch is None and last_point is not None:
        epoch = last_point.epoch
    row = ProgressRow(
        id=job.id,
        progress=max(0.0, min(100.0, progress)),
        current_epoch=epoch,
        current_step=step,
        current_stage=report.stage,
        current_metrics=metrics or None,
        current_cost=accrued_cost(job.gpu_config, job.started_at, now, job.budget_limit),
        total_steps=report.total_steps,
        seen_at=now,
    )
    return IngestPlan(
        job=job,
        report=report,
        points=points,
        progress=row,
        notes=tuple(notes),
        terminal=_TERMINAL.get(report.status),
    )


def apply_plans(session: Session, plans: Sequence[IngestPlan], *, source: str, now: datetime) -> IngestResult:
    """Write every plan's points, progress and rejection notes: one statement per kind, in bulk.

    Points are stored only for jobs still running: a late report about a finished job (a slow poll
    overtaken by the terminal callback) adds nothing to its finished history. The run-health checks
    see the new points of running jobs (services/run_health.py).
    """
    result = IngestResult()
    if not plans:
        return result
    running = _still_running(session, [plan.job.id for plan in plans if plan.points])
    result.points_inserted = insert_points(
        session, [point for plan in plans if plan.job.id in running for point in plan.points]
    )
    result.jobs_updated = update_progress(session, [plan.progress for plan in plans])
    # After the progress UPDATE has locked the rows: a poll and a callback take turns (§9a).
    check_health(
        session,
        [(plan.job.id, plan.points, plan.notes, plan.progress.current_step) for plan in plans],
        source=source,
        now=now,
    )
    notes = [
        {
            "job_id": plan.job.id,
            "at": now,
            "kind": "metrics_rejected",
            "actor": source,
            "details": {"source": source, "notes": list(plan.notes[:50])},
        }
        for plan in plans
        if plan.notes
    ]
    if notes:
        session.execute(insert(JobEvent), notes)
    return result


def _still_running(session: Session, job_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not job_ids:
        return set()
    rows = session.scalars(
        select(TrainingJob.id).where(
            TrainingJob.id.in_(job_ids), TrainingJob.status == JobStatus.RUNNING.value
        )
    )
    return set(rows)


def finish_from_report(
    session: Session,
    job: TrainingJob,
    report: JobStatusReport,
    *,
    source: str,
    now: datetime,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> bool:
    """Apply a terminal report through the state machine; False if the job had already moved on.

    The cluster's own clock is used for the cost when it reports both start and finish; otherwise
    our start and the cluster's finish (or now). Either way the billed window is clamped to what
    is plausible (services/plausibility.billed_window) and a correction is noted on the job.
    An artifact is recorded with a completion.
    """
    to_status = _TERMINAL.get(report.status)
    if to_status is None or job.status != JobStatus.RUNNING.value:
        return False
    window = billed_window(
        submitted_at=job.claimed_at or job.started_at,
        our_start=job.started_at,
        reported_start=report.started_at,
        reported_finish=report.finished_at,
        now=now,
        clock_skew=clock_skew,
    )
    values: dict[str, Any] = {"completed_at": window.finished_at, "last_seen_at": now}
    if window.started_at is not None and window.started_at != job.started_at:
        values["started_at"] = window.started_at
    if report.current_step is not None and report.current_step <= plausible_step_limit(
        report.total_steps or job.total_steps
    ):
        values["current_step"] = max(report.current_step, job.current_step or 0)
    if report.total_steps:
        values["total_steps"] = report.total_steps
    if report.stage:
        values["current_stage"] = report.stage
    if to_status is JobStatus.FAILED:
        values["error_message"] = report.error or "The cluster reported the job as failed without a message."
    details: dict[str, Any] = {"source": source, "external_job_id": report.external_job_id}
    if report.error:
        details["error"] = report.error[:500]
    if not transition(session, job, to_status, actor=source, at=now, values=values, details=details):
        return False
    if window.corrections:
        record_event(
            session,
            job.id,
            "cluster_times_corrected",
            actor=source,
            at=now,
            details={**window.corrections, "clock_skew_seconds": clock_skew.total_seconds()},
        )
    if to_status is JobStatus.COMPLETED and report.artifact is not None:
        artifact = ModelArtifact(
            job_id=job.id,
            user_id=job.user_id,
            storage_uri=report.artifact.uri,
            size_bytes=report.artifact.size_bytes,
            checksum=report.artifact.checksum,
            created_at=now,
        )
        session.add(artifact)
        session.flush()
        job.artifact_id = artifact.id
    return True


def ingest_status(
    session: Session,
    job: TrainingJob,
    status_report: JobStatusReport,
    *,
    source: str,
    now: datetime,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> IngestResult:
    """Ingest one report for one job in the caller's transaction (the callback endpoint's entry).

    Idempotent: the same report twice stores each point once, leaves progress as it was, and makes
    at most one transition (the second one matches no row).
    """
    plan = plan_ingest(JobSnapshot.of(job), status_report, now, clock_skew=clock_skew)
    result = apply_plans(session, [plan], source=source, now=now)
    if plan.terminal is not None:
        session.refresh(job)
        if finish_from_report(session, job, status_report, source=source, now=now, clock_skew=clock_skew):
            result.finished.append(job.id)
    return result
