"""Polling every running job: one query to load them, one concurrent sweep to ask the cluster.

The cursor for `since_step` is the last step we stored for the job (read with the same query, from
the unique (job_id, step) index), so a point the cluster logged between two polls is never skipped
and one already stored is never asked for again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from contract.parsing import clean_text
from contract.results import (
    ClusterBackend,
    ClusterConfigError,
    ClusterError,
    ClusterMalformed,
    ClusterNotFound,
    JobStatusReport,
)
from db.models import JobEvent, JobStatus, MetricPoint, TrainingJob
from logging_setup import log_context
from services.ingest import JobSnapshot
from services.transitions import transition

log = logging.getLogger(__name__)


def load_running(session: Session) -> list[JobSnapshot]:
    """Every running job with an external id, and its last stored step, in one query."""
    last_step = (
        select(func.max(MetricPoint.step)).where(MetricPoint.job_id == TrainingJob.id).scalar_subquery()
    )
    rows = session.execute(
        select(
            TrainingJob.id,
            TrainingJob.user_id,
            TrainingJob.status,
            TrainingJob.external_job_id,
            TrainingJob.current_step,
            TrainingJob.total_steps,
            TrainingJob.started_at,
            TrainingJob.gpu_config,
            TrainingJob.last_seen_at,
            TrainingJob.last_polled_at,
            TrainingJob.budget_limit,
            last_step.label("last_point_step"),
        ).where(TrainingJob.status == JobStatus.RUNNING.value, TrainingJob.external_job_id.is_not(None))
    ).all()
    return [JobSnapshot.of(row, last_point_step=row.last_point_step) for row in rows]


@dataclass
class PollSweep:
    """The outcome of polling, sorted by what the cycle must do with each job."""

    reports: list[tuple[JobSnapshot, JobStatusReport]] = field(default_factory=list)
    # (job, error, lost-message): the job is failed as lost by the cluster.
    lost: list[tuple[JobSnapshot, ClusterError, str]] = field(default_factory=list)
    # (job, error): unknown for now; recorded, retried next cycle.
    unknown: list[tuple[JobSnapshot, ClusterError]] = field(default_factory=list)
    config_errors: int = 0


def poll_jobs(
    client: ClusterBackend, jobs: Sequence[JobSnapshot], *, now: datetime, lost_after_seconds: float
) -> PollSweep:
    """Ask the cluster about every job concurrently; classify each answer (docs/architecture.md §4)."""
    by_external = {job.external_job_id: job for job in jobs if job.external_job_id}
    # Steps count from 1, so "after 0" is the whole history of a job with nothing stored yet.
    outcomes = client.poll_many({external: job.last_point_step or 0 for external, job in by_external.items()})
    sweep = PollSweep()
    for external, job in by_external.items():
        outcome = outcomes.get(external)
        if isinstance(outcome, JobStatusReport):
            sweep.reports.append((job, outcome))
        elif isinstance(outcome, ClusterNotFound):
            sweep.lost.append((job, outcome, lost_message_not_found()))
        elif isinstance(outcome, ClusterError):
            if isinstance(outcome, ClusterConfigError):
                sweep.config_errors += 1  # our configuration, never the job's fault: not "lost"
                sweep.unknown.append((job, outcome))
                continue
            silent = silent_for(job, now)
            if silent > timedelta(seconds=lost_after_seconds):
                sweep.lost.append((job, outcome, lost_message_silent(silent, outcome)))
            else:
                sweep.unknown.append((job, outcome))
    return sweep


def silent_for(job: JobSnapshot, now: datetime) -> timedelta:
    """How long since the cluster last gave a good answer about the job."""
    reference = job.last_seen_at or job.started_at or now
    return now - reference


def lost_message_not_found() -> str:
    return "Lost by the cluster: it no longer knows this job (HTTP 404 on status)."


def lost_message_silent(silent: timedelta, error: ClusterError) -> str:
    minutes = silent.total_seconds() / 60
    return (
        f"Lost by the cluster: no good answer about this job for {minutes:.0f} min "
        f"(last error: {error.message})."
    )


def record_poll_errors(
    session: Session, unknown: Sequence[tuple[JobSnapshot, ClusterError]], now: datetime
) -> None:
    """An unanswered poll means "unknown": note it on the job and keep it running (docs/architecture.md §4)."""
    if not unknown:
        return
    session.execute(
        insert(JobEvent),
        [
            {
                "job_id": job.id,
                "at": now,
                "kind": "cluster_error",
                "actor": "processor",
                "details": {
                    "kind": error.kind,
                    "error": clean_text(error.message, 500),
                    "status_code": error.status_code,
                },
            }
            for job, error in unknown
        ],
    )
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.id.in_([job.id for job, _ in unknown]))
        .values(last_polled_at=now)
        .execution_options(synchronize_session=False)
    )


def record_reconnections(
    session: Session, reports: Sequence[tuple[JobSnapshot, JobStatusReport]], now: datetime
) -> int:
    """A good answer after failed polls ends an error streak: one ``cluster_reconnected`` event
    (the loss chart marks it at its step). The streak is read from the job row (polled after it was
    last seen), so no history is scanned. Returns how many were written."""
    rows = [
        {
            "job_id": job.id,
            "at": now,
            "kind": "cluster_reconnected",
            "actor": "processor",
            "details": {
                "step": report.current_step if report.current_step is not None else job.current_step,
                "silent_seconds": round(
                    (now - (job.last_seen_at or job.last_polled_at or now)).total_seconds()
                ),
            },
        }
        for job, report in reports
        if job.last_polled_at is not None
        and (job.last_seen_at is None or job.last_polled_at > job.last_seen_at)
    ]
    if rows:
        session.execute(insert(JobEvent), rows)
    return len(rows)


def record_checkpoints(
    session: Session, reports: Sequence[tuple[JobSnapshot, JobStatusReport]], now: datetime
) -> int:
    """One ``checkpoint_saved`` event per checkpoint step a cluster reports for the first time.

    Clusters repeat the whole list on every answer; the steps already stored are read for the
    reporting jobs only (a few events each). Returns how many were written.
    """
    reported = {
        job.id: [c for c in report.checkpoints if c.step <= 2 * job.total_steps + 100]  # as points (§6)
        for job, report in reports
        if report.checkpoints
    }
    if not reported:
        return 0
    known: dict[Any, set[int]] = {job_id: set() for job_id in reported}
    for job_id, details in session.execute(
        select(JobEvent.job_id, JobEvent.details).where(
            JobEvent.job_id.in_(list(reported)), JobEvent.kind == "checkpoint_saved"
        )
    ):
        step = (details or {}).get("step")
        if isinstance(step, int):
            known[job_id].add(step)
    rows = [
        {
            "job_id": job_id,
            "at": now,  # our clock; the cluster's own time is kept beside it
            "kind": "checkpoint_saved",
            "actor": "processor",
            "details": {
                "step": checkpoint.step,
                "uri": checkpoint.uri,
                "saved_at": checkpoint.at.isoformat() if checkpoint.at else None,
            },
        }
        for job_id, checkpoints in reported.items()
        for checkpoint in checkpoints
        if checkpoint.step not in known[job_id]
    ]
    if rows:
        session.execute(insert(JobEvent), rows)
    return len(rows)


def fail_lost(
    sessions: sessionmaker[Session], snapshot: JobSnapshot, error: ClusterError, message: str, now: datetime
) -> bool:
    """Fail a running job the cluster lost, and ask the cluster to stop it (it may still be running
    there: a silent cluster is not a stopped one); jobs/cancels.py retries until it acknowledges."""
    with sessions.begin() as session, log_context(job_id=str(snapshot.id)):
        job = session.get(TrainingJob, snapshot.id, populate_existing=True)
        if job is None or job.status != JobStatus.RUNNING.value:
            return False
        log.warning("job lost by the cluster: %s", message)
        return transition(
            session,
            job,
            JobStatus.FAILED,
            actor="processor",
            at=now,
            values={"error_message": message, "cancel_requested_at": now},
            details={"reason": "lost", "kind": error.kind},
        )


def unstorable_message(silent: timedelta) -> str:
    minutes = silent.total_seconds() / 60
    return (
        f"Stopped: PIPELINE could not store what the cluster reported about this job for {minutes:.0f} min "
        "(see its write_failed events)."
    )


def unstorable_for_too_long(
    jobs: Sequence[JobSnapshot], *, now: datetime, lost_after_seconds: float
) -> list[tuple[JobSnapshot, ClusterError, str]]:
    """Jobs whose reports we failed to store (jobs/confined.py) for LOST_AFTER_SECONDS: never marked
    seen, they are as good as lost. They fail like lost jobs, so the cluster is told to stop them."""
    lost: list[tuple[JobSnapshot, ClusterError, str]] = []
    for job in jobs:
        silent = silent_for(job, now)
        if silent > timedelta(seconds=lost_after_seconds):
            message = unstorable_message(silent)
            lost.append((job, ClusterMalformed(message), message))
    return lost
