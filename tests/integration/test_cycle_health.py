"""Run health through run_cycle: real PostgreSQL and the simulated cluster over real HTTP.

Each simulator pathology (simulator/pathologies.py) trips its own check once, with one event and
one notification; normal runs trip none; a check set to `stop` cancels the job through the budget
stop's path and the cluster hears of it.
"""

from __future__ import annotations

import math
from collections import Counter

from catalog.health_checks import find_health_check
from contract.parsing import parse_status_report
from db.base import utcnow
from db.models import JobStatus, TrainingJob
from services.ingest import ingest_status
from services.run_health import stop_now
from simulator.pathologies import PATHOLOGIES
from tests.accounts import make_user
from tests.cycle_harness import (
    LONG_HYPERPARAMETERS,
    all_terminal,
    cycle,
    cycle_until,
    events,
    job,
    notifications,
    queue_jobs,
)

LONG_STEPS = 480  # 60 epochs of 8 steps


def test_each_pathology_fires_its_check_once_and_normal_runs_none(cycle_settings, sessions, owner) -> None:
    sick = {
        pathology: queue_jobs(
            sessions,
            owner,
            hyperparameters={**LONG_HYPERPARAMETERS, "sim_pathology": pathology},
            total_steps=LONG_STEPS,
        )[0]
        for pathology in PATHOLOGIES
    }
    normal = queue_jobs(
        sessions, owner, count=2, hyperparameters=LONG_HYPERPARAMETERS, total_steps=LONG_STEPS
    )
    normal += queue_jobs(sessions, owner, count=2)  # the default short job
    cycle_until(cycle_settings, sessions, all_terminal(sessions, [*sick.values(), *normal]), timeout=90)

    for pathology, job_id in sick.items():
        warnings = events(sessions, job_id, "health_warning")
        checks = [event.details["check"] for event in warnings]
        assert checks[:1] == [PATHOLOGIES[pathology]], (pathology, checks)
        assert max(Counter(checks).values()) == 1
        first = warnings[0].details
        assert set(first) == {"check", "step", "message", "evidence", "action"}
        assert first["action"] == "warn"
        assert isinstance(first["step"], int)
        assert 0.25 * LONG_STEPS <= first["step"] <= LONG_STEPS
        assert first["evidence"]
        assert warnings[0].actor == "processor"
        # One notification per firing, and the job (warn only) trains to the end.
        assert notifications(sessions, job_id).count("health_warning") == len(warnings)
        assert job(sessions, job_id).status == JobStatus.COMPLETED

    for job_id in normal:
        assert events(sessions, job_id, "health_warning") == []
        assert job(sessions, job_id).status == JobStatus.COMPLETED


def test_a_stop_check_cancels_the_job_and_the_cluster_hears_it(cycle_settings, sessions, owner, sim) -> None:
    (job_id,) = queue_jobs(
        sessions,
        owner,
        hyperparameters={**LONG_HYPERPARAMETERS, "sim_pathology": "gradient_blowup"},
        total_steps=LONG_STEPS,
        health_checks={"gradient_blowup": {"action": "stop", "factor": 10.0, "steps": 2}},
    )
    cycle_until(cycle_settings, sessions, all_terminal(sessions, [job_id]), timeout=60)
    stopped = job(sessions, job_id)
    title = find_health_check("gradient_blowup").title  # type: ignore[union-attr]
    assert stopped.status == JobStatus.CANCELLED
    assert stopped.error_message == f"Stopped: {title}"
    assert stopped.cancel_requested_at is not None
    (warning,) = events(sessions, job_id, "health_warning")
    assert warning.details["action"] == "stop"
    assert notifications(sessions, job_id) == ["job_started", "health_warning", "job_cancelled"]
    (change,) = [e for e in events(sessions, job_id, "status_changed") if e.to_status == "cancelled"]
    assert change.details["reason"] == f"Stopped: {title}"
    cycle(cycle_settings, sessions)  # the cancel retries tell the cluster
    assert job(sessions, job_id).cancel_confirmed_at is not None
    on_cluster = sim.cluster.get(str(stopped.external_job_id))
    assert on_cluster is not None
    assert on_cluster.cancelled_at is not None


def test_a_nan_loss_by_callback_warns_once_however_often_it_arrives(sessions, owner) -> None:
    """The callback's entry (ingest_status) runs the same checks; a report sent twice, or a poll
    repeating the callback's NaN, writes one event and one notification."""
    (job_id,) = queue_jobs(sessions, owner, status=JobStatus.RUNNING, started_at=utcnow(), total_steps=100)
    body = {
        "status": "running",
        "current_step": 12,
        "metrics": {"training_loss": math.nan, "throughput": 900.0},
    }
    for source in ("callback", "callback", "poll"):
        with sessions.begin() as session:
            running = session.get_one(TrainingJob, job_id)
            report = parse_status_report(body, "ext-1", None)
            ingest_status(session, running, report, source=source, now=utcnow())
    (warning,) = events(sessions, job_id, "health_warning")
    assert warning.details["check"] == "nan_loss"
    assert warning.details["step"] == 12
    assert warning.details["evidence"] == {"metric": "training_loss"}
    assert notifications(sessions, job_id) == ["health_warning"]
    assert job(sessions, job_id).status == JobStatus.RUNNING


def test_stop_now_only_stops_the_users_own_running_job_for_a_known_check(sessions, owner, runtime) -> None:
    """The monitor's "Stop now" (services/run_health.stop_now): another user's job, an unknown
    check or a finished job are left alone; the owner's stop reads "Stopped: <check title>"."""
    other = make_user(runtime, "mallory-health@example.com")
    (job_id,) = queue_jobs(sessions, owner, status=JobStatus.RUNNING, started_at=utcnow())
    with sessions.begin() as session:
        assert not stop_now(session, other, job_id, "gpu_idle", now=utcnow())
        assert not stop_now(session, owner, job_id, "no_such_check", now=utcnow())
    assert job(sessions, job_id).status == JobStatus.RUNNING
    with sessions.begin() as session:
        assert stop_now(session, owner, job_id, "gpu_idle", now=utcnow())
    stopped = job(sessions, job_id)
    assert stopped.status == JobStatus.CANCELLED
    assert stopped.error_message == "Stopped: GPU utilization low"
    assert stopped.cancel_requested_at is not None
    with sessions.begin() as session:
        assert not stop_now(session, owner, job_id, "gpu_idle", now=utcnow())
