"""One processor cycle: claim, submit, poll, ingest, finish, stop jobs at their budget, retry cancels.

The one function the RQ worker, `lora-pipeline cycle` and the demo's timer all run; safe when two
copies overlap (docs/architecture.md §5).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session, sessionmaker

from contract.results import ClusterBackend, ClusterError
from db.base import utcnow
from db.models import JobEvent, JobStatus, TrainingJob
from db.session import make_engine, make_session_factory
from jobs.budgets import stop_over_budget
from jobs.cancels import retry_cluster_cancels
from jobs.claims import DEFAULT_LEASE_SECONDS, claim_jobs
from jobs.poll import load_running, poll_jobs
from jobs.submit import AfterSubmit, SubmitOutcome, submit_claimed
from logging_setup import log_context
from services.ingest import IngestPlan, JobSnapshot, apply_plans, finish_from_report, plan_ingest
from services.transitions import transition
from settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass
class CycleSummary:
    """What one cycle did; printed by `lora-pipeline cycle` and kept in Redis for `status`."""

    cycle_id: str = ""
    claimed: int = 0
    submitted: int = 0
    polled: int = 0
    points: int = 0
    finished: int = 0
    errors: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"cycle {self.cycle_id}: claimed {self.claimed}, submitted {self.submitted}, "
            f"polled {self.polled}, points {self.points}, finished {self.finished}, "
            f"errors {self.errors}, {self.seconds:.2f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_cluster_client(settings: Settings) -> ClusterBackend:
    """The cluster backend named by GPU_CLUSTER_BACKEND: the http contract client (default), Ray, or local."""
    from jobs.cluster import make_backend

    return make_backend(settings)


def run_cycle(
    settings: Settings,
    *,
    sessions: sessionmaker[Session] | None = None,
    client: ClusterBackend | None = None,
    clock: Clock = utcnow,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    after_submit: AfterSubmit | None = None,
) -> CycleSummary:
    """Run one cycle; resources not passed in are created for it and released after.

    `after_submit` is called between the cluster accepting a job and us saving its external id
    (the window a killed worker leaves open; tests use it to kill the process there).
    """
    started = time.perf_counter()
    summary = CycleSummary(cycle_id=secrets.token_hex(4))
    engine = None
    if sessions is None:
        engine = make_engine(settings.database_url, pool_size=2, max_overflow=2)
        sessions = make_session_factory(engine)
    own_client = client is None
    cluster = client if client is not None else make_cluster_client(settings)
    try:
        with log_context(cycle_id=summary.cycle_id):
            _claim_and_submit(settings, sessions, cluster, clock, lease_seconds, after_submit, summary)
            _poll_and_ingest(settings, sessions, cluster, clock, summary)
            cancels = retry_cluster_cancels(sessions, cluster, now=clock())
            summary.errors += cancels.failed
            summary.seconds = time.perf_counter() - started
            log.info(summary.line())
    finally:
        if own_client:
            cluster.close()
        if engine is not None:
            engine.dispose()
    return summary


def _claim_and_submit(
    settings: Settings,
    sessions: sessionmaker[Session],
    client: ClusterBackend,
    clock: Clock,
    lease_seconds: float,
    after_submit: AfterSubmit | None,
    summary: CycleSummary,
) -> None:
    with sessions.begin() as session:
        claims = claim_jobs(
            session, limit=settings.submit_batch_size, lease_seconds=lease_seconds, now=clock()
        )
    summary.claimed = len(claims)
    for claim in claims:
        with log_context(job_id=str(claim.job_id)):
            outcome = submit_claimed(
                sessions, client, settings, claim, clock=clock, after_submit=after_submit
            )
        if outcome is SubmitOutcome.SUBMITTED:
            summary.submitted += 1
        elif outcome in (SubmitOutcome.RETRY, SubmitOutcome.CONFIG_ERROR):
            summary.errors += 1
        elif outcome in (SubmitOutcome.REJECTED, SubmitOutcome.GAVE_UP):
            summary.finished += 1


def _poll_and_ingest(
    settings: Settings,
    sessions: sessionmaker[Session],
    client: ClusterBackend,
    clock: Clock,
    summary: CycleSummary,
) -> None:
    with sessions() as session:
        jobs = load_running(session)
    if not jobs:
        return
    sweep = poll_jobs(client, jobs, now=clock(), lost_after_seconds=settings.lost_after_seconds)
    summary.polled = len(jobs)
    summary.errors += len(sweep.unknown)
    if sweep.config_errors:
        log.error(
            "cluster refused our credentials for %d status polls; check GPU_CLUSTER_API_KEY",
            sweep.config_errors,
        )
    now = clock()
    plans = [plan_ingest(job, report, now) for job, report in sweep.reports]
    with sessions.begin() as session:
        summary.points = apply_plans(session, plans, source="poll", now=now).points_inserted
        record_poll_errors(session, sweep.unknown, now)
    for plan in plans:
        if plan.terminal is not None and _finish(sessions, plan, now):
            summary.finished += 1
    for job, error, message in sweep.lost:
        if _fail_lost(sessions, job, error, message, now):
            summary.finished += 1
    # After the poll's own terminal states (a job the cluster finished is completed, not stopped)
    # and before the cancel retries (the cluster hears of a budget stop in this same cycle).
    summary.finished += stop_over_budget(
        sessions, jobs, now=now, horizon_seconds=settings.cycle_interval_seconds
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
                    "error": error.message[:500],
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


def _finish(sessions: sessionmaker[Session], plan: IngestPlan, now: datetime) -> bool:
    with sessions.begin() as session, log_context(job_id=str(plan.job.id)):
        job = session.get(TrainingJob, plan.job.id, populate_existing=True)
        return job is not None and finish_from_report(session, job, plan.report, source="cluster", now=now)


def _fail_lost(
    sessions: sessionmaker[Session], snapshot: JobSnapshot, error: ClusterError, message: str, now: datetime
) -> bool:
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
            values={"error_message": message},
            details={"reason": "lost", "kind": error.kind},
        )


def start_cycle_timer(
    settings: Settings,
    stop_event: threading.Event,
    *,
    sessions: sessionmaker[Session] | None = None,
    client: ClusterBackend | None = None,
) -> threading.Thread:
    """The embedded default's scheduler: the same `run_cycle`, every CYCLE_INTERVAL_SECONDS, in a
    daemon thread, one cycle at a time (a thread cannot overlap itself), until `stop_event` is set."""

    def loop() -> None:
        while not stop_event.is_set():
            try:
                run_cycle(settings, sessions=sessions, client=client)
            except Exception:
                log.exception("cycle failed; the next one runs in %.0f s", settings.cycle_interval_seconds)
            stop_event.wait(settings.cycle_interval_seconds)

    thread = threading.Thread(target=loop, name="cycle-timer", daemon=True)
    thread.start()
    return thread
