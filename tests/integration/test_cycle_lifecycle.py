"""A job's whole life through run_cycle: real PostgreSQL, the simulated cluster over real HTTP."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from db.models import CostRecord, JobStatus, MetricPoint, ModelArtifact
from tests.cycle_harness import (
    all_terminal,
    count_rows,
    cycle,
    cycle_until,
    events,
    job,
    notifications,
    queue_jobs,
    sim_stats,
)


def test_queued_job_trains_to_completion_with_metrics_cost_and_notifications(
    cycle_settings, sessions, owner, sim
) -> None:
    (job_id,) = queue_jobs(sessions, owner)

    first = cycle(cycle_settings, sessions)
    assert (first.claimed, first.submitted) == (1, 1)
    submitted = job(sessions, job_id)
    assert submitted.status == JobStatus.RUNNING
    assert submitted.external_job_id
    assert submitted.started_at is not None
    assert notifications(sessions, job_id) == ["job_started"]
    transitions = [(e.from_status, e.to_status) for e in events(sessions, job_id, "status_changed")]
    assert transitions == [("queued", "initializing"), ("initializing", "running")]

    cycle_until(cycle_settings, sessions, all_terminal(sessions, [job_id]))
    done = job(sessions, job_id)
    assert done.status == JobStatus.COMPLETED
    assert done.progress == 100
    assert done.completed_at is not None
    assert done.current_step == done.total_steps > 0
    assert done.final_cost is not None
    assert done.final_cost > Decimal(0)
    assert done.current_metrics.get("training_loss") is not None

    with sessions() as session:
        steps = session.scalars(select(MetricPoint.step).where(MetricPoint.job_id == job_id)).all()
        cost = session.scalars(select(CostRecord).where(CostRecord.job_id == job_id)).one()
        artifact = session.scalars(select(ModelArtifact).where(ModelArtifact.job_id == job_id)).one()
    assert len(steps) == len(set(steps)) > 0
    assert max(steps) == done.total_steps  # the final point arrived
    assert sorted(steps) == list(range(1, done.total_steps + 1))  # every logged step, no gap
    assert cost.amount == done.final_cost
    assert cost.cost_type == "training_compute"
    assert cost.details["gpu_type"] == "A100-80GB"
    assert cost.details["gpu_count"] == 2
    assert Decimal(cost.details["duration_hours"]) > 0
    assert cost.billing_period == done.completed_at.strftime("%Y-%m-%d")
    assert done.artifact_id == artifact.id
    assert (artifact.checksum or "").startswith("sha256:")
    assert notifications(sessions, job_id) == ["job_started", "job_completed"]

    # Nothing more happens to a finished job, however many cycles run.
    cycle(cycle_settings, sessions)
    assert count_rows(sessions, CostRecord, job_id) == 1
    assert notifications(sessions, job_id) == ["job_started", "job_completed"]
    assert sim_stats(sim)["requests"].get("submit") == 1


def test_cluster_failure_fails_the_job_with_its_message_and_bills_what_ran(
    cycle_settings, sessions, owner
) -> None:
    hyper = {"learning_rate": 2e-4, "batch_size": 8, "epochs": 3, "sim_fail_at": 0.5}
    (job_id,) = queue_jobs(sessions, owner, hyperparameters=hyper)
    cycle_until(cycle_settings, sessions, all_terminal(sessions, [job_id]))
    failed = job(sessions, job_id)
    assert failed.status == JobStatus.FAILED
    assert "out of memory" in (failed.error_message or "")
    assert 0 < failed.progress < 100
    assert count_rows(sessions, CostRecord, job_id) == 1
    assert notifications(sessions, job_id) == ["job_started", "job_failed"]


def test_submit_rejected_by_the_cluster_fails_with_its_message(cycle_settings, sessions, owner) -> None:
    (job_id,) = queue_jobs(sessions, owner, hyperparameters={"batch_size": 0, "epochs": 1})
    summary = cycle(cycle_settings, sessions)
    assert summary.finished == 1
    rejected = job(sessions, job_id)
    assert rejected.status == JobStatus.FAILED
    message = rejected.error_message or ""
    assert message.startswith("The cluster rejected the job:")
    assert "batch_size" in message
    assert rejected.external_job_id is None
    assert count_rows(sessions, CostRecord, job_id) == 0  # never ran: nothing billed
    assert notifications(sessions, job_id) == ["job_failed"]


def test_unknown_gpu_type_fails_before_reaching_the_cluster(cycle_settings, sessions, owner, sim) -> None:
    (job_id,) = queue_jobs(sessions, owner, gpu_config={"type": "TPU-v9", "count": 1})
    cycle(cycle_settings, sessions)
    failed = job(sessions, job_id)
    assert failed.status == JobStatus.FAILED
    message = failed.error_message or ""
    assert "cannot be priced" in message
    assert "TPU-v9" in message
    assert sim_stats(sim)["requests"].get("submit", 0) == 0
    assert failed.final_cost == Decimal(0)


def test_claims_take_the_oldest_queued_jobs_up_to_the_batch_size(cycle_settings, sessions, owner) -> None:
    job_ids = queue_jobs(sessions, owner, count=7)
    summary = cycle(cycle_settings.with_overrides(submit_batch_size=5), sessions)
    assert (summary.claimed, summary.submitted) == (5, 5)
    states = [job(sessions, job_id).status for job_id in job_ids]
    assert all(state in ("running", "completed") for state in states[:5])  # the same cycle polls them
    assert states[5:] == ["queued", "queued"]
