"""`ingest_status`, the one ingestion path (polls today, signed callbacks in issue 8), on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from contract.results import Artifact, ClusterJobStatus, ClusterMetrics, JobStatusReport, MetricsPoint
from db.base import utcnow
from db.models import JobStatus, MetricPoint, TrainingJob
from services.ingest import ingest_status
from tests.cycle_harness import count_rows, events, notifications
from tests.factories import make_dataset, make_job


def _running_job(sessions, owner):
    with sessions.begin() as session:
        dataset = make_dataset(session, owner)
        started = utcnow() - timedelta(hours=1)
        return make_job(
            session,
            owner,
            dataset.id,
            status=JobStatus.RUNNING,
            started_at=started,
            external_job_id="ext-42",
            gpu_config={"type": "H100", "count": 1},
        ).id


def _ingest(sessions, job_id, report):
    with sessions.begin() as session:
        job = session.get(TrainingJob, job_id)
        return ingest_status(session, job, report, source="callback", now=utcnow())


def test_the_same_report_twice_stores_each_point_once_and_finishes_once(sessions, owner) -> None:
    job_id = _running_job(sessions, owner)
    history = tuple(MetricsPoint(step=step, epoch=0, training_loss=2.0 - step / 100) for step in range(1, 21))
    running = JobStatusReport(
        external_job_id="ext-42",
        status=ClusterJobStatus.RUNNING,
        stage="training",
        current_step=20,
        total_steps=40,
        metrics=ClusterMetrics(training_loss=1.8),
        metrics_history=history,
    )
    assert _ingest(sessions, job_id, running).points_inserted == 20
    assert _ingest(sessions, job_id, running).points_inserted == 0
    with sessions() as session:
        job = session.get(TrainingJob, job_id)
        assert (job.current_step, job.progress, job.current_stage) == (20, 50.0, "training")
        assert job.current_metrics == {"training_loss": 1.8}
        assert job.current_cost > Decimal("4.19")  # an hour of one H100 so far

    stale = JobStatusReport(external_job_id="ext-42", status=ClusterJobStatus.RUNNING, current_step=5)
    _ingest(sessions, job_id, stale)
    with sessions() as session:
        assert session.get(TrainingJob, job_id).current_step == 20  # never backwards

    finished_at = utcnow()
    done = JobStatusReport(
        external_job_id="ext-42",
        status=ClusterJobStatus.COMPLETED,
        current_step=40,
        total_steps=40,
        metrics_history=tuple(MetricsPoint(step=step, training_loss=1.5) for step in range(21, 41)),
        finished_at=finished_at,
        artifact=Artifact(uri="s3://bucket/adapter.safetensors", size_bytes=10, checksum="sha256:ab"),
    )
    assert _ingest(sessions, job_id, done).finished == [job_id]
    assert _ingest(sessions, job_id, done).finished == []
    with sessions() as session:
        job = session.get(TrainingJob, job_id)
        steps = session.scalars(select(MetricPoint.step).where(MetricPoint.job_id == job_id)).all()
    assert job.status == JobStatus.COMPLETED
    assert job.completed_at == finished_at
    assert job.artifact_id is not None
    assert sorted(steps) == list(range(1, 41))
    assert count_rows(sessions, MetricPoint, job_id) == 40
    assert notifications(sessions, job_id) == ["job_completed"]
    assert [e.actor for e in events(sessions, job_id, "status_changed")] == ["callback"]
