"""The state machine against real PostgreSQL: conditional updates, side effects once, races."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from db.base import utcnow
from db.models import CostRecord, JobEvent, JobStatus, Notification, TrainingJob
from db.session import make_session_factory
from services.transitions import TransitionRefused, cancel_job, transition
from tests.accounts import make_user
from tests.factories import make_dataset, make_job


@pytest.fixture
def sessions(pg_engine: Engine):
    return make_session_factory(pg_engine)


@pytest.fixture
def running_job(sessions, runtime):
    user_id = make_user(runtime, "t@example.com")
    with sessions.begin() as session:
        dataset = make_dataset(session, user_id)
        job = make_job(
            session,
            user_id,
            dataset.id,
            status=JobStatus.RUNNING,
            started_at=utcnow() - timedelta(hours=1),
            gpu_config={"type": "H100", "count": 2},
            external_job_id="ext-1",
        )
        return job.id, user_id


def _count(sessions, model, job_id) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(model.job_id == job_id)) or 0)


def test_completion_writes_event_notification_and_one_cost_record(sessions, running_job) -> None:
    job_id, _ = running_job
    with sessions.begin() as session:
        job = session.get(TrainingJob, job_id)
        finished = job.started_at + timedelta(minutes=30)
        assert transition(
            session, job, JobStatus.COMPLETED, actor="cluster", values={"completed_at": finished}
        )
    with sessions() as session:
        job = session.get(TrainingJob, job_id)
        assert job.status == "completed"
        assert job.progress == 100
        assert job.final_cost == Decimal("4.2000")  # 2 × $4.20/h × 0.5 h, from the cluster's finish time
        cost = session.scalars(select(CostRecord).where(CostRecord.job_id == job_id)).one()
        assert cost.amount == Decimal("4.2000")
        assert cost.cost_type == "training_compute"
        assert cost.details["gpu_type"] == "H100"
        assert cost.details["gpu_count"] == 2
        assert cost.details["duration_hours"] == "0.500000"
        note = session.scalars(select(Notification)).one()
        assert (note.type, note.title, note.action_url) == (
            "job_completed",
            "Training Completed",
            f"/training/jobs/{job_id}",
        )
    assert _count(sessions, JobEvent, job_id) == 1


def test_terminal_state_is_never_left(sessions, running_job) -> None:
    job_id, _ = running_job
    with sessions.begin() as session:
        job = session.get(TrainingJob, job_id)
        assert transition(session, job, JobStatus.FAILED, actor="cluster", values={"error_message": "OOM"})
    with sessions.begin() as session:
        job = session.get(TrainingJob, job_id)
        for target in JobStatus:
            assert not transition(session, job, target, actor="test")
    with sessions() as session:
        assert session.get(TrainingJob, job_id).status == "failed"


def test_stale_read_loses_the_race(sessions, running_job) -> None:
    """Two processes read 'running'; the second UPDATE matches no row and writes nothing."""
    job_id, _ = running_job
    with sessions() as first, sessions() as second:
        job_a = first.get(TrainingJob, job_id)
        job_b = second.get(TrainingJob, job_id)
        assert transition(first, job_a, JobStatus.COMPLETED, actor="cycle-a")
        first.commit()
        assert not transition(second, job_b, JobStatus.FAILED, actor="cycle-b")
        second.commit()
    assert _count(sessions, CostRecord, job_id) == 1
    assert _count(sessions, JobEvent, job_id) == 1


def test_cancel_racing_completion_has_one_winner(sessions, running_job) -> None:
    job_id, user_id = running_job
    barrier = threading.Barrier(2)
    results: dict[str, bool] = {}

    def complete() -> None:
        with sessions() as session:
            job = session.get(TrainingJob, job_id)
            barrier.wait()
            results["complete"] = transition(session, job, JobStatus.COMPLETED, actor="cluster")
            session.commit()

    def cancel() -> None:
        with sessions() as session:
            barrier.wait()
            try:
                results["cancel"] = (
                    cancel_job(session, user_id, job_id, actor="user", now=utcnow()) is not None
                )
            except TransitionRefused:
                results["cancel"] = False
            session.commit()

    threads = [threading.Thread(target=complete), threading.Thread(target=cancel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results.values()) == [False, True]
    assert _count(sessions, CostRecord, job_id) == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == 1


def test_cancel_refuses_finished_and_hides_other_users_jobs(sessions, running_job, runtime) -> None:
    job_id, user_id = running_job
    other = make_user(runtime, "other@example.com")
    with sessions.begin() as session:
        assert cancel_job(session, other, job_id, actor="user", now=utcnow()) is None
    with sessions.begin() as session:
        assert cancel_job(session, user_id, job_id, actor="user", now=utcnow()) is not None
    with sessions.begin() as session, pytest.raises(TransitionRefused, match="already cancelled"):
        cancel_job(session, user_id, job_id, actor="user", now=utcnow())


def test_cancel_bills_the_time_run_until_the_given_moment(sessions, running_job) -> None:
    """The caller's clock ends the billed time: compute stops when the user cancelled."""
    job_id, user_id = running_job
    with sessions() as session:
        started = session.get(TrainingJob, job_id).started_at
    cancelled_at = started + timedelta(minutes=15)
    with sessions.begin() as session:
        cancel_job(session, user_id, job_id, actor="user", now=cancelled_at)
    with sessions() as session:
        job = session.get(TrainingJob, job_id)
        assert (job.completed_at, job.cancel_requested_at) == (cancelled_at, cancelled_at)
        assert job.final_cost == Decimal("2.1000")  # 2 × $4.20/h × 0.25 h
        cost = session.scalars(select(CostRecord).where(CostRecord.job_id == job_id)).one()
        assert (cost.amount, cost.details["duration_hours"]) == (Decimal("2.1000"), "0.250000")
        note = session.scalars(select(Notification)).one()
        assert note.created_at == cancelled_at


def test_cancel_of_queued_job_bills_nothing(sessions, runtime) -> None:
    user_id = make_user(runtime, "q@example.com")
    with sessions.begin() as session:
        job = make_job(session, user_id, make_dataset(session, user_id).id)
        job_id = job.id
    with sessions.begin() as session:
        cancelled = cancel_job(session, user_id, job_id, actor="user", now=utcnow())
        assert cancelled is not None
        assert cancelled.final_cost == Decimal(0)
    assert _count(sessions, CostRecord, job_id) == 0


def test_a_run_longer_than_a_day_is_billed_for_all_of_it(sessions, running_job) -> None:
    job_id, _ = running_job
    with sessions.begin() as session:
        job = session.get(TrainingJob, job_id)
        finished = job.started_at + timedelta(hours=26, minutes=15, seconds=30)
        assert transition(
            session, job, JobStatus.COMPLETED, actor="cluster", values={"completed_at": finished}
        )
    with sessions() as session:
        job = session.get(TrainingJob, job_id)
        # 2 × H100 = $8.40/h for 94,530 s: 8.40 × 94,530 / 3,600 = $220.57
        assert job.final_cost == job.current_cost == Decimal("220.5700")
        cost = session.scalars(select(CostRecord).where(CostRecord.job_id == job_id)).one()
        assert cost.amount == Decimal("220.5700")
        assert cost.details["duration_hours"] == "26.258333"
        note = session.scalars(select(Notification)).one()
        assert note.message.endswith("Cost: $220.57.")


@pytest.mark.parametrize("to_status", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_the_final_bill_is_capped_at_the_budget(sessions, running_job, to_status: JobStatus) -> None:
    job_id, _ = running_job
    with sessions.begin() as session:
        job = session.get(TrainingJob, job_id)
        job.budget_limit = Decimal("3.0000")
        session.flush()
        ended = job.started_at + timedelta(minutes=30)  # $8.40/h × 0.5 h = $4.20 run up
        assert transition(session, job, to_status, actor="cluster", values={"completed_at": ended})
    with sessions() as session:
        job = session.get(TrainingJob, job_id)
        assert job.final_cost == job.current_cost == Decimal("3.0000")
        cost = session.scalars(select(CostRecord).where(CostRecord.job_id == job_id)).one()
        assert (cost.amount, cost.details["budget_limit"]) == (Decimal("3.0000"), "3.0000")
        assert cost.details["duration_hours"] == "0.500000"  # the time it ran, though billed less


def test_a_worker_whose_lease_was_taken_over_cannot_move_the_job(sessions, runtime) -> None:
    """A stale worker holds claim token "old"; the job was reclaimed with "new" meanwhile."""
    user_id = make_user(runtime, "lease@example.com")
    with sessions.begin() as session:
        job = make_job(
            session,
            user_id,
            make_dataset(session, user_id).id,
            status=JobStatus.INITIALIZING,
            claimed_at=utcnow(),
            claim_token="new",
        )
        job_id = job.id
    with sessions.begin() as session:
        job = session.get(TrainingJob, job_id)
        assert not transition(session, job, JobStatus.FAILED, actor="processor", claim_token="old")
    with sessions.begin() as session:
        job = session.get(TrainingJob, job_id)
        assert transition(session, job, JobStatus.FAILED, actor="processor", claim_token="new")
    assert _count(sessions, JobEvent, job_id) == 1


@pytest.mark.parametrize(
    ("to_status", "title", "priority"),
    [
        (JobStatus.RUNNING, "Training Started", "medium"),
        (JobStatus.COMPLETED, "Training Completed", "high"),
        (JobStatus.FAILED, "Training Failed", "high"),
        (JobStatus.CANCELLED, "Training Cancelled", "medium"),
    ],
)
def test_notifications_carry_the_specs_titles_and_priorities(
    sessions, runtime, to_status: JobStatus, title: str, priority: str
) -> None:
    """Spec E04: started and cancelled are medium, completed and failed high; its four titles."""
    user_id = make_user(runtime, "n@example.com")
    started = utcnow() - timedelta(hours=1)
    with sessions.begin() as session:
        dataset = make_dataset(session, user_id)
        from_status = JobStatus.INITIALIZING if to_status is JobStatus.RUNNING else JobStatus.RUNNING
        job = make_job(session, user_id, dataset.id, status=from_status, started_at=started)
        assert transition(session, job, to_status, actor="processor", values={"error_message": "boom"})
        job_id, completed_at = job.id, job.completed_at
    with sessions() as session:
        note = session.scalars(select(Notification)).one()
        assert (note.title, note.priority) == (title, priority)
        records = session.scalars(select(CostRecord).where(CostRecord.job_id == job_id)).all()
    if to_status is not JobStatus.RUNNING:  # a terminal job that ran is billed once, dated as the spec does
        assert completed_at is not None
        assert [record.billing_period for record in records] == [completed_at.strftime("%Y-%m-%d")]
