"""Budget limits through run_cycle: real PostgreSQL, the simulated cluster over real HTTP, signed
callbacks into the Flask app, and one test clock shared by all of them (nothing waits on wall time).

The simulator runs at real speed here (time scale 1), so a 60-epoch job trains for ~160 s of the
test clock and we can step the clock by one cycle interval at a time, as the scheduler would.
At 2× A100-80GB ($7.00/h) a $0.20 budget lasts 102.86 s.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from api.callbacks_api import CALLBACK_PATH
from contract.signing import callback_headers, derive_job_secret
from db.models import CostRecord, JobStatus, Notification
from jobs.budgets import stop_for_budget, stop_over_budget
from jobs.poll import load_running
from services.errors import InvalidState
from services.training_jobs import cancel_user_job
from settings import Settings
from simulator.runner import SimulatorHandle, start_simulator_in_thread
from tests.accounts import SECRET
from tests.cycle_harness import (
    CANARY,
    Clock,
    all_terminal,
    count_rows,
    cycle,
    events,
    job,
    notifications,
    queue_jobs,
)

RATE = Decimal("7.00")  # 2 × A100-80GB, the factory's GPUs
BUDGET = Decimal("0.2000")
BUDGET_RUNS_OUT = timedelta(hours=float(BUDGET / RATE))  # 102.857 s after start
INTERVAL = 30.0
TRAINS_160_S = {"learning_rate": 2e-4, "batch_size": 8, "epochs": 60}  # 480 steps at 0.31 s, + 17 s
TRAINS_260_S = {**TRAINS_160_S, "epochs": 100}
STOP_REASON = "Stopped: budget limit $0.20 reached"


def bill(started: datetime, ended: datetime) -> Decimal:
    """RATE for the time from `started` to `ended`, worked out here rather than by services.costs:
    $7.00/h × whole microseconds / 3,600,000,000, to 1/100 of a cent, half-up."""
    microseconds = (ended - started) // timedelta(microseconds=1)
    return (RATE * microseconds / Decimal(3_600_000_000)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Iterator[SimulatorHandle]:
    """The simulated cluster at real speed, on the test clock (overrides the harness's fast one)."""
    handle = start_simulator_in_thread(api_key=CANARY, time_scale=1.0)
    handle.cluster.clock = clock.wall
    yield handle
    handle.stop()


@pytest.fixture
def budget_settings(cycle_settings: Settings) -> Settings:
    return cycle_settings.with_overrides(cycle_interval_seconds=INTERVAL)


def run(settings: Settings, sessions: sessionmaker[Session], clock: Clock) -> None:
    cycle(settings, sessions, clock=clock.now)


def terminal_notification(sessions: sessionmaker[Session], job_id: uuid.UUID) -> Notification:
    with sessions() as session:
        rows = session.scalars(select(Notification).order_by(Notification.id)).all()
        (found,) = [n for n in rows if n.metadata_.get("job_id") == str(job_id) and n.type != "job_started"]
        return found


def cost_record(sessions: sessionmaker[Session], job_id: uuid.UUID) -> CostRecord:
    with sessions() as session:
        return session.scalars(select(CostRecord).where(CostRecord.job_id == job_id)).one()


def assert_told_the_cluster(sessions: sessionmaker[Session], sim: SimulatorHandle, job_id: uuid.UUID) -> None:
    stopped = job(sessions, job_id)
    assert stopped.cancel_confirmed_at is not None
    assert [e.details["answer"] for e in events(sessions, job_id, "cluster_cancel_acknowledged")] == [
        "acknowledged"
    ]
    on_cluster = sim.cluster.get(str(stopped.external_job_id))
    assert on_cluster is not None
    assert on_cluster.cancelled_at is not None


def test_a_small_budget_stops_the_job_before_its_bill_passes_it_and_leaves_others_alone(
    budget_settings, sessions, user, auth_client: FlaskClient, sim, clock
) -> None:
    owner = user["id"]
    (small,) = queue_jobs(sessions, owner, hyperparameters=TRAINS_160_S, budget_limit=BUDGET)
    (unlimited,) = queue_jobs(sessions, owner, hyperparameters=TRAINS_160_S)
    (ample,) = queue_jobs(sessions, owner, hyperparameters=TRAINS_160_S, budget_limit=Decimal("5"))
    run(budget_settings, sessions, clock)
    assert {job(sessions, j).status for j in (small, unlimited, ample)} == {JobStatus.RUNNING}

    # One cycle per interval, as the scheduler runs them, until the small-budget job ends.
    while job(sessions, small).status == JobStatus.RUNNING:
        assert clock.offset < 300, "the budget never stopped the job"
        clock.offset += INTERVAL
        run(budget_settings, sessions, clock)
        if job(sessions, small).status == JobStatus.RUNNING:
            assert job(sessions, small).current_cost <= BUDGET

    stopped = job(sessions, small)
    assert stopped.status == JobStatus.CANCELLED
    assert stopped.error_message == STOP_REASON
    assert stopped.started_at is not None
    assert stopped.completed_at is not None
    # Stopped in the last interval before the budget ran out: not later (the cluster never ran past
    # the budget), and not earlier than needed (the look-ahead is one interval, no more).
    runs_out = stopped.started_at + BUDGET_RUNS_OUT
    assert runs_out - timedelta(seconds=INTERVAL) < stopped.completed_at <= runs_out
    # Billed exactly for the time it ran, which is within the budget: no cap was needed.
    assert stopped.final_cost == bill(stopped.started_at, stopped.completed_at)
    assert stopped.final_cost is not None
    assert stopped.final_cost <= BUDGET
    record = cost_record(sessions, small)
    assert record.amount == stopped.final_cost
    assert record.details["budget_limit"] == "0.2000"
    assert notifications(sessions, small) == ["job_started", "job_cancelled"]
    note = terminal_notification(sessions, small)
    assert note.title == "Budget Limit Reached"
    assert "budget limit of $0.20" in note.message
    assert note.message.endswith(f"Cost: ${stopped.final_cost.quantize(Decimal('0.01'))}.")
    (change,) = [e for e in events(sessions, small, "status_changed") if e.to_status == "cancelled"]
    assert (change.from_status, change.actor, change.details["reason"]) == (
        "running",
        "processor",
        STOP_REASON,
    )
    assert_told_the_cluster(sessions, sim, small)  # in the same cycle as the stop
    on_cluster = sim.cluster.get(str(stopped.external_job_id))
    assert on_cluster is not None
    assert on_cluster.cancelled_at is not None
    assert on_cluster.cancelled_at <= runs_out.timestamp()

    # The stop reason, as a program reads it.
    detail = auth_client.get(f"/api/jobs/{small}").get_json()["data"]
    assert detail["job"]["status"] == "cancelled"
    assert detail["job"]["error_message"] == STOP_REASON
    assert detail["job"]["final_cost"] == float(stopped.final_cost)  # a JSON number, exact to 1/100 cent
    assert [r["amount"] for r in detail["cost_records"]] == [float(stopped.final_cost)]
    assert any(e["details"].get("reason") == STOP_REASON for e in detail["events"])

    # The job without a budget, and the one whose budget exceeds the whole run, train to the end.
    assert job(sessions, unlimited).status == JobStatus.RUNNING
    deadline = 20
    while not all_terminal(sessions, [unlimited, ample])():
        deadline -= 1
        assert deadline, "the other jobs never finished"
        clock.offset += INTERVAL
        run(budget_settings, sessions, clock)
    for other in (unlimited, ample):
        done = job(sessions, other)
        assert done.status == JobStatus.COMPLETED
        assert done.error_message is None
        assert done.started_at is not None
        assert done.completed_at is not None
        assert done.final_cost == bill(done.started_at, done.completed_at)  # not capped
        assert done.final_cost is not None
        assert done.final_cost > BUDGET
        assert notifications(sessions, other) == ["job_started", "job_completed"]
        assert count_rows(sessions, CostRecord, other) == 1
        assert all("budget" not in str(e.details) for e in events(sessions, other, "status_changed"))
    assert "budget_limit" not in cost_record(sessions, unlimited).details

    # Nothing more happens to the stopped job, however many cycles run.
    clock.offset += INTERVAL
    run(budget_settings, sessions, clock)
    assert count_rows(sessions, CostRecord, small) == 1
    assert notifications(sessions, small) == ["job_started", "job_cancelled"]


def test_late_cycles_never_bill_past_the_budget(budget_settings, sessions, owner, sim, clock) -> None:
    """No cycle ran for 200 s (workers down): by then one job finished on the cluster, and the
    other's polls keep failing. Both are billed the budget, not the 200 s."""
    (finished,) = queue_jobs(sessions, owner, hyperparameters=TRAINS_160_S, budget_limit=BUDGET)
    (silent,) = queue_jobs(
        sessions, owner, hyperparameters={**TRAINS_260_S, "sim_error_rate": 1.0}, budget_limit=BUDGET
    )
    run(budget_settings, sessions, clock)
    clock.offset += 200
    run(budget_settings, sessions, clock)

    done = job(sessions, finished)
    assert done.status == JobStatus.COMPLETED  # the cluster's own outcome wins over a stop
    assert done.error_message is None
    assert done.final_cost == BUDGET
    assert cost_record(sessions, finished).amount == BUDGET
    assert notifications(sessions, finished) == ["job_started", "job_completed"]

    stopped = job(sessions, silent)
    assert events(sessions, silent, "cluster_error"), "its polls were meant to fail"
    assert stopped.status == JobStatus.CANCELLED
    assert stopped.error_message == STOP_REASON
    assert stopped.final_cost == BUDGET
    assert cost_record(sessions, silent).amount == BUDGET
    assert notifications(sessions, silent) == ["job_started", "job_cancelled"]
    assert_told_the_cluster(sessions, sim, silent)


def _callback(client: FlaskClient, job_id: uuid.UUID, body: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps({"job_id": str(job_id), **body}).encode()
    headers = callback_headers(derive_job_secret(SECRET, str(job_id)), None, raw, job_id=str(job_id))
    response = client.post(CALLBACK_PATH, data=raw, headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()["data"]
    return data


def test_callbacks_never_bill_past_the_budget_and_the_cycle_still_stops_the_job(
    budget_settings, sessions, owner, client: FlaskClient, sim, clock, monkeypatch
) -> None:
    monkeypatch.setattr("api.callbacks_api.utcnow", clock.now)  # the callback endpoint on the test clock
    (job_id,) = queue_jobs(sessions, owner, hyperparameters=TRAINS_160_S, budget_limit=BUDGET)
    run(budget_settings, sessions, clock)
    running = {"status": "running", "stage": "training", "current_step": 100, "total_steps": 480}

    clock.offset += 60
    assert _callback(client, job_id, running)["status"] == "running"
    assert Decimal(0) < job(sessions, job_id).current_cost < BUDGET

    # The cycle due at 90 s is late; at 120 s the budget has run out. A callback then keeps the job
    # running (it carries nothing about money) but never shows more spent than the budget.
    clock.offset += 60
    assert _callback(client, job_id, {**running, "current_step": 300})["status"] == "running"
    assert job(sessions, job_id).current_cost == BUDGET

    run(budget_settings, sessions, clock)
    stopped = job(sessions, job_id)
    assert stopped.status == JobStatus.CANCELLED
    assert stopped.error_message == STOP_REASON
    assert stopped.final_cost == BUDGET  # 120 s of compute, billed the budget
    assert_told_the_cluster(sessions, sim, job_id)

    # The trainer's last word after the stop changes nothing.
    late = _callback(client, job_id, {**running, "status": "completed", "current_step": 480})
    assert late["ignored"] == "the job has already finished"
    assert job(sessions, job_id).status == JobStatus.CANCELLED
    assert count_rows(sessions, CostRecord, job_id) == 1
    assert notifications(sessions, job_id) == ["job_started", "job_cancelled"]


def _wait_for_lock_wait(engine: Engine, timeout: float = 10.0) -> None:
    """Until another session of this database waits on a row lock (the racer reached its UPDATE)."""
    deadline = time.monotonic() + timeout
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.scalar(query):
                return
        time.sleep(0.02)
    pytest.fail("the racing transaction never waited on the row lock")


def _race(
    engine: Engine,
    sessions: sessionmaker[Session],
    first: Callable[[Session], None],
    second: Callable[[], Any],
) -> list[Any]:
    """`first` changes the job in an open transaction; `second` runs in a thread meanwhile and
    blocks on the row; `first` commits; `second`'s outcome (or exception) is returned."""
    outcome: list[Any] = []

    def racer() -> None:
        try:
            outcome.append(second())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=racer)
    with sessions.begin() as session:
        first(session)
        thread.start()
        _wait_for_lock_wait(engine)
    thread.join(timeout=10)
    assert not thread.is_alive()
    return outcome


@pytest.mark.parametrize("winner", ["user", "budget"])
def test_a_cancel_racing_the_budget_stop_bills_once(
    budget_settings, sessions, owner, pg_engine, sim, clock, winner: str
) -> None:
    (job_id,) = queue_jobs(sessions, owner, hyperparameters=TRAINS_160_S, budget_limit=BUDGET)
    run(budget_settings, sessions, clock)
    clock.offset += 95  # the budget runs out before the next cycle: the stop is due
    with sessions() as session:
        snapshots = [s for s in load_running(session) if s.id == job_id]
    now = clock.now()

    def user_cancels(session: Session) -> None:
        cancel_user_job(session, owner, job_id, actor="user", now=now)

    def user_cancels_alone() -> None:
        with sessions.begin() as session:
            user_cancels(session)

    def budget_stops(session: Session) -> None:
        assert stop_for_budget(session, job_id, now=now)

    if winner == "user":
        outcome = _race(
            pg_engine,
            sessions,
            user_cancels,
            lambda: stop_over_budget(sessions, snapshots, now=now, horizon_seconds=INTERVAL),
        )
        assert outcome == [0]  # the budget stop read "running", then matched no row
    else:
        outcome = _race(pg_engine, sessions, budget_stops, user_cancels_alone)
        assert len(outcome) == 1
        assert isinstance(outcome[0], InvalidState)

    ended = job(sessions, job_id)
    assert ended.status == JobStatus.CANCELLED
    assert ended.error_message == (STOP_REASON if winner == "budget" else None)
    assert ended.started_at is not None
    assert ended.final_cost == bill(ended.started_at, now) <= BUDGET
    assert count_rows(sessions, CostRecord, job_id) == 1
    assert notifications(sessions, job_id) == ["job_started", "job_cancelled"]
    expected_title = "Budget Limit Reached" if winner == "budget" else "Training Cancelled"
    assert terminal_notification(sessions, job_id).title == expected_title
    assert len([e for e in events(sessions, job_id, "status_changed") if e.to_status == "cancelled"]) == 1

    run(budget_settings, sessions, clock)  # the next cycle tells the cluster, and bills nothing more
    assert_told_the_cluster(sessions, sim, job_id)
    assert count_rows(sessions, CostRecord, job_id) == 1
    assert job(sessions, job_id).final_cost == ended.final_cost
