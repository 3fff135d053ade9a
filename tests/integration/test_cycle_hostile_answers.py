"""One job's hostile cluster answers never stop the processor for the others (issue 14, items 2-4).

Real PostgreSQL, the simulated cluster over real HTTP; a job's answers are made hostile with
`SimCluster.answer_status_with` (the exact bytes its status requests get), and a write the database
refuses is made with a real trigger, not a mock.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.models import JobStatus, MetricPoint
from services.transitions import cancel_job
from settings import Settings
from simulator.runner import SimulatorHandle
from tests.cycle_harness import (
    LONG_HYPERPARAMETERS,
    all_terminal,
    cycle,
    cycle_until,
    events,
    job,
    queue_jobs,
    statuses,
)


def hostile(sim: SimulatorHandle, job_id: uuid.UUID, body: dict | str | None) -> None:
    """Answer every status request for `job_id` with `body` (JSON-encoded unless a str); None: stop."""
    as_text = body if body is None or isinstance(body, str) else json.dumps(body)
    sim.cluster.answer_status_with(str(job_id), as_text)


@contextmanager
def refused_updates(engine: Engine, job_id: uuid.UUID, sqlstate: str = "22000") -> Iterator[None]:
    """PostgreSQL refuses every progress UPDATE of this running job (as it refuses a NUL byte)."""
    with engine.begin() as connection:
        connection.execute(
            text(f"""
            CREATE FUNCTION refuse_job_progress() RETURNS trigger AS $$
            BEGIN
                IF NEW.id = '{job_id}' AND OLD.status = 'running' AND NEW.status = 'running' THEN
                    RAISE EXCEPTION 'refused for the test' USING ERRCODE = '{sqlstate}';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_job_progress BEFORE UPDATE ON lora_training_jobs
                FOR EACH ROW EXECUTE FUNCTION refuse_job_progress();
            """)
        )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TRIGGER refuse_job_progress ON lora_training_jobs"))
            connection.execute(text("DROP FUNCTION refuse_job_progress()"))


def test_a_nul_byte_in_one_jobs_stage_is_cleaned_and_every_job_completes(
    cycle_settings: Settings, sessions: sessionmaker[Session], owner: int, sim: SimulatorHandle
) -> None:
    bad, *others = queue_jobs(sessions, owner, count=3, hyperparameters=LONG_HYPERPARAMETERS)
    assert cycle(cycle_settings, sessions).submitted == 3
    hostile(
        sim,
        bad,
        {
            "status": "running",
            "stage": "train\x00ing\ud800\x07" + "x" * 500,
            "current_step": 3,
            "total_steps": 480,
            "error": "bad\x00",
            "metrics_history": [{"step": 3, "training_loss": 1.5, "timestamp": "2026-11-28T12:00:00\x00"}],
        },
    )
    summary = cycle(cycle_settings, sessions)
    assert summary.errors == 0
    stored = job(sessions, bad)
    assert stored.current_stage is not None
    assert stored.current_stage.startswith("training")
    assert len(stored.current_stage) == 100
    assert stored.current_step == 3
    notes = [n for e in events(sessions, bad, "metrics_rejected") for n in e.details["notes"]]
    assert any(n.startswith("stage: cut") for n in notes)
    hostile(sim, bad, None)
    cycle_until(cycle_settings, sessions, all_terminal(sessions, [bad, *others]))
    assert statuses(sessions, [bad, *others]) == ["completed"] * 3


def test_a_write_the_database_refuses_is_confined_to_that_job(
    cycle_settings: Settings, sessions: sessionmaker[Session], owner: int, pg_engine: Engine
) -> None:
    bad, *others = queue_jobs(sessions, owner, count=3, hyperparameters=LONG_HYPERPARAMETERS)
    assert cycle(cycle_settings, sessions).submitted == 3
    with refused_updates(pg_engine, bad):
        summary = cycle(cycle_settings, sessions)
        assert summary.errors == 1
        failures = events(sessions, bad, "write_failed")
        assert [f.details["step"] for f in failures] == ["ingest"]
        assert "refused for the test" in failures[0].details["error"]
        assert "SQL" not in failures[0].details["error"]  # never the statement or its parameters
        cycle_until(cycle_settings, sessions, all_terminal(sessions, others))
    assert statuses(sessions, others) == ["completed"] * 2
    assert all(job(sessions, other).final_cost for other in others)
    assert not any(events(sessions, other, "write_failed") for other in others)
    with sessions() as session:  # the refused job's batch-mates kept their points
        for other in others:
            assert session.scalar(select(MetricPoint.id).where(MetricPoint.job_id == other).limit(1))
    cycle_until(cycle_settings, sessions, all_terminal(sessions, [bad]))  # and it recovers after
    assert statuses(sessions, [bad]) == ["completed"]


def test_budget_stops_and_cancel_retries_run_when_ingestion_fails(
    cycle_settings: Settings,
    sessions: sessionmaker[Session],
    owner: int,
    pg_engine: Engine,
    sim: SimulatorHandle,
) -> None:
    over_budget, cancelled = queue_jobs(sessions, owner, count=2, hyperparameters=LONG_HYPERPARAMETERS)
    assert cycle(cycle_settings, sessions).submitted == 2
    with sessions.begin() as session:
        cancel_job(session, owner, cancelled, actor="user", now=utcnow())
        session.execute(
            text("UPDATE lora_training_jobs SET budget_limit = :b WHERE id = :id"),
            {"b": Decimal("0.0001"), "id": over_budget},
        )
    # The progress write fails as a database going away would: not one job's data, so the whole
    # ingestion phase ends for this cycle; the phases after it must still run.
    # The cycle then reports its failure (RQ marks it failed, the CLI exits 1), after every phase ran.
    with refused_updates(pg_engine, over_budget, sqlstate="57P01"), pytest.raises(OperationalError):
        cycle(cycle_settings, sessions)
    stopped = job(sessions, over_budget)
    assert stopped.status == JobStatus.CANCELLED
    assert "budget" in (stopped.error_message or "")
    for job_id in (over_budget, cancelled):
        done = job(sessions, job_id)
        assert done.cancel_confirmed_at is not None
        on_cluster = sim.cluster.get(str(done.external_job_id))
        assert on_cluster is not None
        assert on_cluster.cancelled_at is not None


def test_a_step_far_past_the_jobs_length_is_refused_and_the_job_goes_on(
    cycle_settings: Settings, sessions: sessionmaker[Session], owner: int, sim: SimulatorHandle
) -> None:
    settings = cycle_settings.with_overrides(lost_after_seconds=1.5)
    (job_id,) = queue_jobs(sessions, owner, hyperparameters=LONG_HYPERPARAMETERS)
    assert cycle(settings, sessions).submitted == 1
    hostile(
        sim,
        job_id,
        {
            "status": "running",
            "current_step": 100_000_000,
            "metrics_history": [{"step": 100_000_000, "training_loss": 0.1}],
        },
    )
    cycle(settings, sessions)
    hostile(sim, job_id, None)
    cycle_until(settings, sessions, all_terminal(sessions, [job_id]), pause=0.3)
    done = job(sessions, job_id)
    assert done.status == JobStatus.COMPLETED  # not "lost" while it still ran on the cluster
    assert done.current_step == 480
    notes = [n for e in events(sessions, job_id, "metrics_rejected") for n in e.details["notes"]]
    assert any("refused 1 points past step" in n for n in notes)
    assert any(n.startswith("current_step: refused 100000000") for n in notes)
    with sessions() as session:
        steps = session.scalars(select(MetricPoint.step).where(MetricPoint.job_id == job_id)).all()
    assert max(steps) == 480


def _give_up(
    how: str, settings: Settings, sessions: sessionmaker[Session], owner: int, job_id: uuid.UUID
) -> None:
    """End a running job the way PIPELINE gives up on it (the cluster is not told yet)."""
    if how == "user cancel":
        with sessions.begin() as session:
            cancel_job(session, owner, job_id, actor="user", now=utcnow())
    elif how == "budget stop":
        with sessions.begin() as session:
            session.execute(
                text("UPDATE lora_training_jobs SET budget_limit = :b WHERE id = :id"),
                {"b": Decimal("0.0001"), "id": job_id},
            )
    # "lost": the job's answers are garbage (see the caller) until LOST_AFTER_SECONDS passes.


@pytest.mark.parametrize("how", ["lost", "budget stop", "user cancel"])
def test_every_way_pipeline_gives_up_stops_the_job_on_the_cluster(
    how: str, cycle_settings: Settings, sessions: sessionmaker[Session], owner: int, sim: SimulatorHandle
) -> None:
    settings = cycle_settings.with_overrides(lost_after_seconds=0.5)
    (job_id,) = queue_jobs(sessions, owner, hyperparameters=LONG_HYPERPARAMETERS)
    assert cycle(settings, sessions).submitted == 1
    external = str(job(sessions, job_id).external_job_id)
    if how == "lost":
        hostile(sim, job_id, "<html>502 Bad Gateway</html>")
        time.sleep(0.6)
    _give_up(how, settings, sessions, owner, job_id)
    sim.set_faults(fail_next=10)  # the cluster is down when we give up: the cancel must be retried
    cycle(settings, sessions)
    sim.set_faults(fail_next=0)
    given_up = job(sessions, job_id)
    assert given_up.status in ("failed", "cancelled")
    assert given_up.cancel_confirmed_at is None
    assert events(sessions, job_id, "cluster_cancel_failed")
    on_cluster = sim.cluster.get(external)
    assert on_cluster is not None
    assert on_cluster.cancelled_at is None

    cycle(settings, sessions)
    assert job(sessions, job_id).cancel_confirmed_at is not None
    assert on_cluster.cancelled_at is not None
    (acknowledged,) = events(sessions, job_id, "cluster_cancel_acknowledged")
    assert acknowledged.details["answer"] == "acknowledged"


def test_a_job_the_cluster_forgot_counts_as_stopped(
    cycle_settings: Settings, sessions: sessionmaker[Session], owner: int
) -> None:
    (job_id,) = queue_jobs(sessions, owner, hyperparameters={**LONG_HYPERPARAMETERS, "sim_forget_at": 0.05})
    cycle_until(cycle_settings, sessions, all_terminal(sessions, [job_id]))
    cycle(cycle_settings, sessions)
    lost = job(sessions, job_id)
    assert lost.status == JobStatus.FAILED
    assert lost.cancel_confirmed_at is not None  # the cluster answered 404: not running there
    (acknowledged,) = events(sessions, job_id, "cluster_cancel_acknowledged")
    assert acknowledged.details["answer"] == "unknown to the cluster"


def test_a_job_whose_reports_cannot_be_stored_for_too_long_fails_and_is_stopped(
    cycle_settings: Settings,
    sessions: sessionmaker[Session],
    owner: int,
    pg_engine: Engine,
    sim: SimulatorHandle,
) -> None:
    settings = cycle_settings.with_overrides(lost_after_seconds=1.0)
    (bad,) = queue_jobs(sessions, owner, hyperparameters=LONG_HYPERPARAMETERS)
    assert cycle(settings, sessions).submitted == 1
    with refused_updates(pg_engine, bad):
        cycle_until(settings, sessions, all_terminal(sessions, [bad]), pause=0.3)
        cycle(settings, sessions)
    failed = job(sessions, bad)
    assert failed.status == JobStatus.FAILED
    assert "could not store what the cluster reported" in (failed.error_message or "")
    assert failed.cancel_confirmed_at is not None
    on_cluster = sim.cluster.get(str(failed.external_job_id))
    assert on_cluster is not None
    assert on_cluster.cancelled_at is not None
