"""Planning what a status report writes: pure, so checked without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contract.results import ClusterJobStatus, ClusterMetrics, JobStatusReport, MetricsPoint
from db.metric_store import columns
from db.models import JobStatus
from services.ingest import JobSnapshot, accrued_cost, plan_ingest
from tests.factories import job_snapshot

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def snapshot(**overrides: object) -> JobSnapshot:
    return job_snapshot(NOW, **overrides)


def test_history_becomes_rows_and_progress_follows_the_latest_step() -> None:
    job = snapshot()
    report = JobStatusReport(
        external_job_id="ext-1",
        status=ClusterJobStatus.RUNNING,
        stage="training",
        current_step=50,
        current_epoch=1,
        metrics_history=(
            MetricsPoint(step=40, epoch=1, training_loss=1.5),
            MetricsPoint(step=50, epoch=1, training_loss=1.4, learning_rate=1e-4),
        ),
    )
    plan = plan_ingest(job, report, NOW)
    rows = [dict(zip(columns(), point, strict=True)) for point in plan.points]
    assert [row["step"] for row in rows] == [40, 50]
    assert all(row["job_id"] == job.id for row in rows)
    assert rows[0]["timestamp"] == NOW  # the cluster gave no timestamp: when we saw it
    assert rows[1]["learning_rate"] == 1e-4
    assert plan.progress.current_step == 50
    assert plan.progress.progress == 25.0  # 50 of 200 steps, since the cluster gave no percentage
    assert plan.progress.current_metrics == {"training_loss": 1.4, "learning_rate": 1e-4}
    assert plan.progress.current_cost == Decimal("4.2000")  # 2 × $4.20/h × 0.5 h
    assert plan.terminal is None


def test_cluster_progress_and_metrics_win_over_derived_ones() -> None:
    report = JobStatusReport(
        external_job_id="ext-1",
        status=ClusterJobStatus.RUNNING,
        progress=33.3,
        current_step=10,
        metrics=ClusterMetrics(training_loss=2.0),
        metrics_history=(MetricsPoint(step=8, training_loss=2.2),),
    )
    plan = plan_ingest(snapshot(), report, NOW)
    assert plan.progress.progress == 33.3
    assert plan.progress.current_metrics == {"training_loss": 2.0}


def test_terminal_report_is_marked_and_rejections_are_carried() -> None:
    report = JobStatusReport(
        external_job_id="ext-1",
        status=ClusterJobStatus.FAILED,
        error="CUDA out of memory",
        notes=("metrics.training_loss: dropped, not finite",),
    )
    plan = plan_ingest(snapshot(), report, NOW)
    assert plan.terminal is JobStatus.FAILED
    assert plan.notes == ("metrics.training_loss: dropped, not finite",)


def test_cost_is_zero_before_start_and_for_an_unpriceable_gpu() -> None:
    assert accrued_cost({"type": "H100", "count": 1}, None, NOW) == Decimal(0)
    assert accrued_cost({"type": "TPU", "count": 1}, NOW - timedelta(hours=1), NOW) == Decimal(0)
    assert accrued_cost({"type": "V100-32GB", "count": 1}, NOW - timedelta(hours=2), NOW) == Decimal("4.2000")


def test_accrued_cost_never_shows_more_than_the_budget() -> None:
    two_hours_ago = NOW - timedelta(hours=2)
    v100 = {"type": "V100-32GB", "count": 1}  # $2.10/h: $4.20 after two hours
    assert accrued_cost(v100, two_hours_ago, NOW, Decimal("5")) == Decimal("4.2000")
    assert accrued_cost(v100, two_hours_ago, NOW, Decimal("3.5")) == Decimal("3.5")
    job = snapshot(gpu_config=v100, started_at=two_hours_ago, budget_limit=Decimal("3.5"))
    report = JobStatusReport(external_job_id="ext-1", status=ClusterJobStatus.RUNNING, current_step=10)
    assert plan_ingest(job, report, NOW).progress.current_cost == Decimal("3.5")


def test_without_history_the_latest_values_are_stored_as_the_current_step() -> None:
    report = JobStatusReport(
        external_job_id="ext-1",
        status=ClusterJobStatus.RUNNING,
        current_step=30,
        current_epoch=1,
        metrics=ClusterMetrics(training_loss=1.2, learning_rate=1e-4),
        history_included=False,
    )
    (row,) = plan_ingest(snapshot(), report, NOW).points
    point = dict(zip(columns(), row, strict=True))
    assert (point["step"], point["epoch"], point["training_loss"]) == (30, 1, 1.2)


def test_an_empty_history_list_means_nothing_new_not_a_point_at_the_current_step() -> None:
    report = JobStatusReport(
        external_job_id="ext-1",
        status=ClusterJobStatus.RUNNING,
        current_step=31,
        metrics=ClusterMetrics(training_loss=1.2),  # the values of the last logged step (30)
        history_included=True,
    )
    assert plan_ingest(snapshot(), report, NOW).points == []


def test_without_a_current_step_the_newest_point_of_the_history_is_the_step() -> None:
    report = JobStatusReport(
        external_job_id="ext-1",
        status=ClusterJobStatus.RUNNING,
        metrics_history=(MetricsPoint(step=48, training_loss=1.5), MetricsPoint(step=50, training_loss=1.4)),
    )
    plan = plan_ingest(snapshot(), report, NOW)
    assert plan.progress.current_step == 50
    assert plan.progress.progress == 25.0  # 50 of the job's 200 steps
    assert plan.progress.current_metrics == {"training_loss": 1.4}  # the newest point's values


@pytest.mark.parametrize(("sent", "stored"), [(120.0, 100.0), (-5.0, 0.0), (99.5, 99.5)])
def test_a_clusters_progress_is_kept_within_0_and_100(sent: float, stored: float) -> None:
    report = JobStatusReport(
        external_job_id="ext-1", status=ClusterJobStatus.RUNNING, progress=sent, current_step=10
    )
    assert plan_ingest(snapshot(), report, NOW).progress.progress == stored
