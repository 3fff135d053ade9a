"""The faults a cycle must survive (issue 4), each against real PostgreSQL and the simulator over HTTP."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from db.models import CostRecord, JobStatus, MetricPoint
from jobs.submit import MAX_SUBMIT_ATTEMPTS
from tests.cycle_harness import (
    LONG_HYPERPARAMETERS,
    all_terminal,
    count_rows,
    cycle,
    cycle_until,
    events,
    fast_client,
    job,
    notifications,
    queue_jobs,
    sim_stats,
    statuses,
)

HYPER = {"learning_rate": 2e-4, "batch_size": 8, "epochs": 3}


def test_transient_poll_errors_never_fail_a_job_and_it_converges(
    cycle_settings, sessions, owner, sim
) -> None:
    job_ids = queue_jobs(sessions, owner, count=3, hyperparameters=LONG_HYPERPARAMETERS)
    assert cycle(cycle_settings, sessions).submitted == 3

    for faults in ({"error_rate": 1.0}, {"malformed_rate": 1.0, "malformed_kind": "not_json"}):
        sim.set_faults(**faults)
        for _ in range(2):
            summary = cycle(cycle_settings, sessions)
            assert summary.errors >= 3
            assert summary.finished == 0
        sim.set_faults(error_rate=0.0, malformed_rate=0.0)
        assert statuses(sessions, job_ids) == ["running"] * 3

    # Timeouts: the cycle still ends on time (per-request timeout), jobs stay running.
    sim.set_faults(latency_ms=3000)
    started = time.monotonic()
    summary = cycle(
        cycle_settings, sessions, client=fast_client(cycle_settings, read_timeout=0.5, max_retries=0)
    )
    assert time.monotonic() - started < 2.5
    assert summary.errors == 3
    assert statuses(sessions, job_ids) == ["running"] * 3
    sim.set_faults(latency_ms=0)

    kinds = {e.details["kind"] for e in events(sessions, job_ids[0], "cluster_error")}
    assert kinds == {"transient", "malformed"}
    cycle_until(cycle_settings, sessions, all_terminal(sessions, job_ids))
    assert statuses(sessions, job_ids) == ["completed"] * 3
    for job_id in job_ids:
        done = job(sessions, job_id)
        with sessions() as session:
            steps = session.scalars(select(MetricPoint.step).where(MetricPoint.job_id == job_id)).all()
        gaps = {b - a for a, b in zip(sorted(steps), sorted(steps)[1:], strict=False)}
        assert max(steps) == done.total_steps  # nothing lost meanwhile: one logging interval apart
        assert len(gaps - {max(gaps)}) <= 1
        assert notifications(sessions, job_id) == ["job_started", "job_completed"]


def test_one_flaky_job_does_not_hold_back_the_others(cycle_settings, sessions, owner) -> None:
    (flaky,) = queue_jobs(sessions, owner, hyperparameters={**LONG_HYPERPARAMETERS, "sim_error_rate": 0.8})
    healthy = queue_jobs(sessions, owner, count=2, hyperparameters=LONG_HYPERPARAMETERS)
    cycle_until(cycle_settings, sessions, all_terminal(sessions, [flaky, *healthy]))
    assert statuses(sessions, [flaky, *healthy]) == ["completed"] * 3
    assert events(sessions, flaky, "cluster_error")
    assert not events(sessions, healthy[0], "cluster_error")


def test_invalid_values_are_dropped_and_noted_never_stored(cycle_settings, sessions, owner) -> None:
    (job_id,) = queue_jobs(sessions, owner, hyperparameters={**HYPER, "sim_malformed": "bad_values"})
    cycle_until(cycle_settings, sessions, all_terminal(sessions, [job_id]))
    done = job(sessions, job_id)
    assert done.status == JobStatus.COMPLETED
    rejected = events(sessions, job_id, "metrics_rejected")
    assert rejected
    assert any("training_loss" in note for note in rejected[0].details["notes"])
    with sessions() as session:
        stored = session.execute(
            select(
                func.count(),
                func.count(MetricPoint.training_loss),
                func.count(MetricPoint.gpu_utilization),
                func.count(MetricPoint.learning_rate),
            ).where(MetricPoint.job_id == job_id)
        ).one()
    assert stored[0] > 0
    assert stored[1] == 0  # every "NaN" string dropped
    assert stored[2] == 0  # every negative utilisation dropped
    assert stored[3] == stored[0]  # the good values of the same points kept
    assert 0 <= done.progress <= 100


def test_a_job_the_cluster_forgets_fails_as_lost(cycle_settings, sessions, owner) -> None:
    (job_id,) = queue_jobs(sessions, owner, hyperparameters={**HYPER, "sim_forget_at": 0.3})
    cycle_until(cycle_settings, sessions, all_terminal(sessions, [job_id]))
    lost = job(sessions, job_id)
    assert lost.status == JobStatus.FAILED
    assert "Lost by the cluster" in (lost.error_message or "")
    assert "404" in (lost.error_message or "")
    assert count_rows(sessions, CostRecord, job_id) == 1  # it did use compute until then
    assert notifications(sessions, job_id) == ["job_started", "job_failed"]


def test_no_good_answer_for_lost_after_fails_the_job(cycle_settings, sessions, owner) -> None:
    settings = cycle_settings.with_overrides(lost_after_seconds=1.5)
    (job_id,) = queue_jobs(sessions, owner, hyperparameters={**HYPER, "sim_malformed": "not_json"})
    first = cycle(settings, sessions)
    assert first.submitted == 1
    assert job(sessions, job_id).status == JobStatus.RUNNING  # unknown is not failed...
    cycle_until(settings, sessions, all_terminal(sessions, [job_id]), pause=0.5)
    lost = job(sessions, job_id)
    assert lost.status == JobStatus.FAILED  # ...until no good answer came for LOST_AFTER
    assert "no good answer about this job" in (lost.error_message or "")
    assert len(events(sessions, job_id, "cluster_error")) >= 2


def test_transient_submit_failure_is_retried_on_later_cycles(cycle_settings, sessions, owner, sim) -> None:
    (job_id,) = queue_jobs(sessions, owner)
    sim.set_faults(error_rate=1.0, error_status=503)
    summary = cycle(cycle_settings, sessions)
    assert (summary.claimed, summary.submitted, summary.errors) == (1, 0, 1)
    waiting = job(sessions, job_id)
    assert waiting.status == JobStatus.INITIALIZING
    assert waiting.claimed_at is None  # released for the next cycle
    assert waiting.submit_attempts == 1
    assert events(sessions, job_id, "submit_failed")[0].details["kind"] == "transient"

    sim.set_faults(error_rate=0.0)
    assert cycle(cycle_settings, sessions).submitted == 1
    running = job(sessions, job_id)
    assert running.status in (JobStatus.RUNNING, JobStatus.COMPLETED)
    assert running.submit_attempts == 2
    assert sim_stats(sim)["jobs"] == 1


def test_submit_failing_every_time_gives_up_with_a_clear_message(
    cycle_settings, sessions, owner, sim
) -> None:
    (job_id,) = queue_jobs(sessions, owner)
    sim.set_faults(error_rate=1.0)
    for _ in range(MAX_SUBMIT_ATTEMPTS):
        cycle(cycle_settings, sessions)
    failed = job(sessions, job_id)
    assert failed.status == JobStatus.FAILED
    assert f"Could not submit the job to the cluster after {MAX_SUBMIT_ATTEMPTS} attempts" in (
        failed.error_message or ""
    )
    assert "HTTP 500" in (failed.error_message or "")
    assert notifications(sessions, job_id) == ["job_failed"]
    assert count_rows(sessions, CostRecord, job_id) == 0


def test_wrong_api_key_never_fails_jobs(cycle_settings, sessions, owner, sim) -> None:
    (job_id,) = queue_jobs(sessions, owner)
    wrong = cycle_settings.with_overrides(gpu_cluster_api_key="not-the-key")
    for _ in range(MAX_SUBMIT_ATTEMPTS + 1):
        assert cycle(wrong, sessions).errors == 1
    waiting = job(sessions, job_id)
    assert waiting.status == JobStatus.INITIALIZING
    assert waiting.submit_attempts == 0  # our configuration, not the job's fault
    assert events(sessions, job_id, "submit_failed")[0].details["kind"] == "config"
    assert cycle(cycle_settings, sessions).submitted == 1
