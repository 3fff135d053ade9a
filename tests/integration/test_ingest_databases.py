"""The one ingestion path on both databases it runs on: SQLite (the embedded default) and PostgreSQL.

Each database has its own bulk SQL (db/metric_store.py, db/progress.py), so every rule is checked on
both: a point is stored once per (job_id, step), progress never moves backwards, cost keeps accruing
while the step stands still, and a job that has finished (any terminal status) takes no more
progress or cost from a report that was planned while it was still running.

Money is checked against literals computed by hand: the job runs on 1 × H100 at $4.20/h.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from api.runtime import Runtime
from contract.results import ClusterJobStatus, ClusterMetrics, JobStatusReport, MetricsPoint
from db.models import CostRecord, JobStatus, MetricPoint, TrainingJob
from services.accounts import create_user
from services.ingest import JobSnapshot, apply_plans, ingest_status, plan_ingest
from services.transitions import transition
from tests.factories import make_dataset, make_job

STARTED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
H100 = {"type": "H100", "count": 1}


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Runtime:
    """The same test on the embedded SQLite file and on the real PostgreSQL server."""
    runtime: Runtime = request.getfixturevalue("sqlite_runtime" if request.param == "sqlite" else "runtime")
    return runtime


def _running_job(db: Runtime) -> uuid.UUID:
    with db.transaction() as session:
        owner = create_user(session, f"ingest-{uuid.uuid4().hex[:6]}@example.com", "correct horse battery")
        dataset = make_dataset(session, owner.id)
        return make_job(
            session,
            owner.id,
            dataset.id,
            status=JobStatus.RUNNING,
            started_at=STARTED,
            external_job_id="ext-7",
            gpu_config=H100,
            total_steps=40,
        ).id


def _report(step: int, history: range | None = None) -> JobStatusReport:
    points = tuple(MetricsPoint(step=s, epoch=0, training_loss=2.0 - s / 100) for s in history or ())
    return JobStatusReport(
        external_job_id="ext-7",
        status=ClusterJobStatus.RUNNING,
        stage="training",
        current_step=step,
        total_steps=40,
        metrics=ClusterMetrics(training_loss=2.0 - step / 100),
        metrics_history=points,
    )


def _ingest(db: Runtime, job_id: uuid.UUID, report: JobStatusReport, now: datetime) -> int:
    with db.transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        return ingest_status(session, job, report, source="callback", now=now).points_inserted


def _job(db: Runtime, job_id: uuid.UUID) -> TrainingJob:
    with db.sessions() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        return job


def _steps(db: Runtime, job_id: uuid.UUID) -> list[int]:
    with db.sessions() as session:
        query = select(MetricPoint.step).where(MetricPoint.job_id == job_id).order_by(MetricPoint.step)
        return list(session.scalars(query))


def test_points_already_stored_are_skipped_not_duplicated_or_refused(db: Runtime) -> None:
    job_id = _running_job(db)
    at = STARTED + timedelta(minutes=10)
    assert _ingest(db, job_id, _report(20, range(1, 21)), at) == 20
    assert _ingest(db, job_id, _report(20, range(1, 21)), at) == 0  # the same report again
    assert _ingest(db, job_id, _report(25, range(15, 26)), at) == 5  # overlapping: only 21..25 are new
    assert _steps(db, job_id) == list(range(1, 26))


def test_progress_never_moves_backwards_but_cost_accrues_while_the_step_stands_still(db: Runtime) -> None:
    job_id = _running_job(db)
    _ingest(db, job_id, _report(20), STARTED + timedelta(hours=1))
    job = _job(db, job_id)
    assert (job.current_step, job.progress, job.current_stage) == (20, 50.0, "training")
    assert job.current_cost == Decimal("4.2000")  # $4.20/h × 1 h

    # A slower poll overtaken by a newer report: older than what is stored, it moves no progress
    # back, but the job was seen and the bill follows the clock (one stale report must never
    # freeze a job into looking lost).
    _ingest(db, job_id, _report(5), STARTED + timedelta(hours=1, minutes=30))
    job = _job(db, job_id)
    assert (job.current_step, job.progress) == (20, 50.0)
    assert job.current_metrics == {"training_loss": 1.8}  # not the stale 1.95
    assert job.current_cost == Decimal("6.3000")  # $4.20/h × 1.5 h
    assert job.last_seen_at == STARTED + timedelta(hours=1, minutes=30)

    # Stuck on one step (a long evaluation, a slow cluster): the bill still follows the clock.
    _ingest(db, job_id, _report(20), STARTED + timedelta(hours=2))
    job = _job(db, job_id)
    assert (job.current_step, job.progress) == (20, 50.0)
    assert job.current_cost == Decimal("8.4000")  # $4.20/h × 2 h
    assert job.last_seen_at == STARTED + timedelta(hours=2)


@pytest.mark.parametrize("terminal", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_late_running_report_changes_nothing_on_a_finished_job(db: Runtime, terminal: JobStatus) -> None:
    """The cycle plans from its snapshot of running jobs; the job ends (the cluster's report, a
    user's cancel) before the plan is applied. Progress and cost are the final ones and stay so."""
    job_id = _running_job(db)
    _ingest(db, job_id, _report(10), STARTED + timedelta(minutes=20))
    with db.sessions() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        snapshot = JobSnapshot.of(job)
    late = plan_ingest(snapshot, _report(30, range(11, 31)), STARTED + timedelta(hours=2))
    assert len(late.points) == 20
    assert late.progress.current_cost == Decimal("8.4000")  # what it would write: $4.20/h × 2 h

    ended = STARTED + timedelta(minutes=30)
    with db.transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        assert transition(session, job, terminal, actor="test", at=ended)
    before = _job(db, job_id)
    assert before.final_cost == before.current_cost == Decimal("2.1000")  # $4.20/h × 0.5 h

    with db.transaction() as session:
        applied = apply_plans(session, [late], source="poll", now=STARTED + timedelta(hours=2))
    assert applied.jobs_updated == 0
    assert applied.points_inserted == 0  # a finished job's history is final
    after = _job(db, job_id)
    assert after.status == terminal.value
    assert after.current_cost == after.final_cost == Decimal("2.1000")
    assert after.current_step == 10
    assert after.progress == (100.0 if terminal is JobStatus.COMPLETED else 25.0)
    assert after.updated_at == before.updated_at
    with db.sessions() as session:
        amounts = session.scalars(select(CostRecord.amount).where(CostRecord.job_id == job_id)).all()
        assert amounts == [Decimal("2.1000")]
        assert session.scalar(select(func.count()).select_from(CostRecord)) == 1


def test_a_terminal_report_bills_by_the_clusters_clock_and_never_moves_the_step_back(db: Runtime) -> None:
    job_id = _running_job(db)
    _ingest(db, job_id, _report(30), STARTED + timedelta(minutes=50))
    done = JobStatusReport(
        external_job_id="ext-7",
        status=ClusterJobStatus.COMPLETED,
        current_step=25,  # older than the step already stored
        total_steps=40,
        started_at=STARTED + timedelta(minutes=10),  # the cluster's own start and finish
        finished_at=STARTED + timedelta(minutes=40),
    )
    with db.transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        finished = ingest_status(session, job, done, source="poll", now=STARTED + timedelta(hours=1)).finished
    assert finished == [job_id]
    job = _job(db, job_id)
    assert job.status == JobStatus.COMPLETED.value
    assert (job.started_at, job.completed_at) == (
        STARTED + timedelta(minutes=10),
        STARTED + timedelta(minutes=40),
    )
    # 30 min on the cluster's clock: $4.20/h × 0.5 h (not 40 min from our own start: $2.80)
    assert job.final_cost == Decimal("2.1000")
    assert (job.current_step, job.progress) == (30, 100.0)
    with db.sessions() as session:
        assert session.scalars(select(CostRecord.amount)).all() == [Decimal("2.1000")]


@pytest.mark.parametrize("status", [ClusterJobStatus.FAILED, ClusterJobStatus.CANCELLED])
def test_a_terminal_report_leaves_a_job_that_is_still_being_submitted_alone(
    db: Runtime, status: ClusterJobStatus
) -> None:
    """The submit in flight owns an initializing job until it records it running; the cluster
    reports the end again at the next poll, which then finishes the job through the state machine."""
    with db.transaction() as session:
        owner = create_user(session, "submitting@example.com", "correct horse battery")
        job_id = make_job(
            session,
            owner.id,
            make_dataset(session, owner.id).id,
            status=JobStatus.INITIALIZING,
            external_job_id="ext-7",
            claimed_at=STARTED,
            claim_token="lease-1",
            gpu_config=H100,
        ).id
    report = JobStatusReport(
        external_job_id="ext-7", status=status, error="dataset download refused (HTTP 403)"
    )
    with db.transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        assert ingest_status(session, job, report, source="callback", now=STARTED).finished == []
    job = _job(db, job_id)
    assert (job.status, job.error_message, job.final_cost) == (JobStatus.INITIALIZING.value, None, None)
