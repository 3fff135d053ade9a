"""One processor cycle: claim, submit, poll, ingest, finish, stop jobs at their budget, retry cancels,
enqueue webhook deliveries.

The one function the RQ worker, `lora-pipeline cycle` and the demo's timer all run; safe when two
copies overlap (docs/architecture.md §5).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from contract.results import ClusterBackend
from db.base import utcnow
from db.models import TrainingJob
from db.session import make_engine, make_session_factory
from jobs.budgets import stop_over_budget
from jobs.cancels import retry_cluster_cancels
from jobs.claims import DEFAULT_LEASE_SECONDS, claim_jobs
from jobs.confined import DATA_FAULTS, SYSTEM_FAULTS, apply_confined, record_write_failure
from jobs.poll import (
    fail_lost,
    load_running,
    poll_jobs,
    record_checkpoints,
    record_poll_errors,
    record_reconnections,
    unstorable_for_too_long,
)
from jobs.submit import AfterSubmit, SubmitOutcome, submit_claimed
from jobs.webhook_dispatch import dispatch_pending
from logging_setup import log_context
from services.ingest import IngestPlan, JobSnapshot, finish_from_report, plan_ingest
from settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")


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
    faults: list[Exception] = []
    try:
        with log_context(cycle_id=summary.cycle_id):
            # Each phase runs whatever the one before it did: a failure in claiming or ingesting
            # must never stop lost-job handling, budget stops or cancel retries (§5).
            _phase(
                summary,
                faults,
                "claim and submit",
                lambda: _claim_and_submit(
                    settings, sessions, cluster, clock, lease_seconds, after_submit, summary
                ),
            )
            jobs = _phase(summary, faults, "load running jobs", lambda: _load_running(sessions)) or []
            _phase(
                summary,
                faults,
                "poll and ingest",
                lambda: _poll_and_ingest(settings, sessions, cluster, clock, jobs, summary),
            )
            # After the poll's own terminal states (a job the cluster finished is completed, not
            # stopped) and before the cancel retries (the cluster hears of a budget stop this cycle).
            horizon = settings.cycle_interval_seconds
            stopped = _phase(
                summary,
                faults,
                "budget stops",
                lambda: stop_over_budget(sessions, jobs, now=clock(), horizon_seconds=horizon),
            )
            summary.finished += stopped or 0
            cancels = _phase(
                summary,
                faults,
                "cluster cancels",
                lambda: retry_cluster_cancels(sessions, cluster, now=clock()),
            )
            summary.errors += cancels.failed if cancels is not None else 0
            # Last: hand this cycle's (and any earlier, unsent) webhook outbox rows to RQ. Only
            # enqueues; the endpoints are called by workers, never waited on here.
            _phase(summary, faults, "webhook deliveries", lambda: dispatch_pending(sessions, settings))
            summary.seconds = time.perf_counter() - started
            log.info(summary.line())
            if faults:  # the database or the network failed us: this cycle failed, say so
                raise faults[0]
    finally:
        if own_client:
            cluster.close()
        if engine is not None:
            engine.dispose()
    return summary


def _phase(summary: CycleSummary, faults: list[Exception], name: str, step: Callable[[], T]) -> T | None:
    """Run one phase of the cycle; a failure is logged, counted and kept in `faults`, and the next
    phase runs. The cycle raises the first system fault once every phase has had its turn."""
    try:
        return step()
    except Exception as exc:  # any failure: the phases after it must still run (see run_cycle)
        summary.errors += 1
        if isinstance(exc, SYSTEM_FAULTS):
            faults.append(exc)
        log.exception("cycle phase %r failed; the cycle goes on with the next one", name)
        return None


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


def _load_running(sessions: sessionmaker[Session]) -> list[JobSnapshot]:
    with sessions() as session:
        return load_running(session)


def _poll_and_ingest(
    settings: Settings,
    sessions: sessionmaker[Session],
    client: ClusterBackend,
    clock: Clock,
    jobs: list[JobSnapshot],
    summary: CycleSummary,
) -> None:
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
    skew = timedelta(seconds=settings.cluster_clock_skew_seconds)
    plans = [plan_ingest(job, report, now, clock_skew=skew) for job, report in sweep.reports]
    written = apply_confined(sessions, plans, source="poll", now=now)
    summary.points = written.points_inserted
    summary.errors += len(written.failed)
    with sessions.begin() as session:
        record_poll_errors(session, sweep.unknown, now)
        # only reports that were stored: a job whose write failed is not "reconnected"
        stored = [(job, report) for job, report in sweep.reports if job.id not in set(written.failed)]
        record_reconnections(session, stored, now)
        record_checkpoints(session, stored, now)
    # Every terminal report, even one whose progress write failed: finishing is its own write.
    for plan in plans:
        if plan.terminal is not None and _per_job(
            summary, plan.job.id, "finish", now, sessions, _finish, sessions, plan, now, skew
        ):
            summary.finished += 1
    unwritable = [job for job, _ in sweep.reports if job.id in set(written.failed)]
    lost = sweep.lost + unstorable_for_too_long(
        unwritable, now=now, lost_after_seconds=settings.lost_after_seconds
    )
    for job, error, message in lost:
        if _per_job(
            summary, job.id, "fail as lost", now, sessions, fail_lost, sessions, job, error, message, now
        ):
            summary.finished += 1


def _per_job(
    summary: CycleSummary,
    job_id: uuid.UUID,
    step: str,
    now: datetime,
    sessions: sessionmaker[Session],
    write: Callable[..., bool],
    *args: Any,
) -> bool:
    """One job's own write; a failure is noted on that job (jobs/confined.py) and the loop goes on."""
    try:
        return write(*args)
    except SYSTEM_FAULTS:
        raise
    except DATA_FAULTS as exc:
        summary.errors += 1
        record_write_failure(sessions, job_id, exc, now=now, step=step)
        return False


def _finish(sessions: sessionmaker[Session], plan: IngestPlan, now: datetime, skew: timedelta) -> bool:
    with sessions.begin() as session, log_context(job_id=str(plan.job.id)):
        job = session.get(TrainingJob, plan.job.id, populate_existing=True)
        return job is not None and finish_from_report(
            session, job, plan.report, source="cluster", now=now, clock_skew=skew
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
