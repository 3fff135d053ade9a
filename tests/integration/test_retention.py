"""Retention of raw metric points (services/retention.py, `lora-pipeline metrics prune`) on both
databases: only terminal jobs that ended before the cutoff lose their raw points, in batches, with one
event each; a dry run and a second run change nothing; bad arguments exit 2."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from api.runtime import Runtime
from db.base import utcnow
from db.models import JobEvent, JobStatus, MetricPoint
from services.retention import PRUNED_EVENT, delete_batch, prune_raw_points
from tests.accounts import make_user
from tests.factories import add_metric_points, make_dataset, make_job
from tests.integration.test_cli import run_cli

POINTS = 23  # not a multiple of the batch size: the last batch is partial
BATCH = 5


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Runtime:
    return request.getfixturevalue("sqlite_runtime" if request.param == "sqlite" else "runtime")


def _jobs(database: Runtime) -> dict[str, uuid.UUID]:
    """One job per case, each with POINTS raw points; 'old_*' ended 40 days ago, 'recent' 5 days ago."""
    owner = make_user(database, f"owner-{uuid.uuid4().hex[:6]}@example.com")
    now = utcnow()
    cases = {
        "running": (JobStatus.RUNNING, None),
        "recent": (JobStatus.COMPLETED, now - timedelta(days=5)),
        "old_completed": (JobStatus.COMPLETED, now - timedelta(days=40)),
        "old_failed": (JobStatus.FAILED, now - timedelta(days=40)),
        "old_cancelled": (JobStatus.CANCELLED, now - timedelta(days=40)),
    }
    ids = {}
    with database.transaction() as session:
        dataset = make_dataset(session, owner)
        for name, (status, ended) in cases.items():
            job = make_job(
                session,
                owner,
                dataset.id,
                status=status,
                started_at=now - timedelta(days=41),
                completed_at=ended,
            )
            add_metric_points(session, job, range(1, POINTS + 1))
            ids[name] = job.id
    return ids


def _points(database: Runtime, job_id: uuid.UUID) -> int:
    with database.sessions() as session:
        return session.scalar(select(func.count()).where(MetricPoint.job_id == job_id)) or 0


def _pruned_events(database: Runtime) -> dict[uuid.UUID, list[dict[str, object]]]:
    with database.sessions() as session:
        events = session.scalars(select(JobEvent).where(JobEvent.kind == PRUNED_EVENT)).all()
    found: dict[uuid.UUID, list[dict[str, object]]] = {}
    for event in events:
        found.setdefault(event.job_id, []).append(event.details)
    return found


def test_old_terminal_jobs_are_pruned_in_batches_and_nothing_else(database: Runtime) -> None:
    ids = _jobs(database)
    result = prune_raw_points(database.transaction, timedelta(days=30), batch_rows=BATCH)

    old = {ids["old_completed"], ids["old_failed"], ids["old_cancelled"]}
    assert (result.jobs, result.points) == (3, 3 * POINTS)
    assert set(result.points_by_job) == old
    assert result.batches == 3 * (POINTS // BATCH + 1)  # bounded transactions, not one big DELETE
    for job_id in old:
        assert _points(database, job_id) == 0
    assert _points(database, ids["running"]) == POINTS
    assert _points(database, ids["recent"]) == POINTS
    events = _pruned_events(database)
    assert set(events) == old
    assert all(details == [{"points": POINTS, "older_than_days": 30.0}] for details in events.values())


def test_a_dry_run_and_a_second_run_change_nothing(database: Runtime) -> None:
    ids = _jobs(database)
    dry = prune_raw_points(database.transaction, timedelta(days=30), dry_run=True)
    assert (dry.jobs, dry.points, dry.batches) == (3, 3 * POINTS, 0)
    assert all(_points(database, job_id) == POINTS for job_id in ids.values())
    assert _pruned_events(database) == {}

    prune_raw_points(database.transaction, timedelta(days=30))
    again = prune_raw_points(database.transaction, timedelta(days=30))
    assert (again.jobs, again.points) == (0, 0)
    assert all(len(details) == 1 for details in _pruned_events(database).values())


def test_a_batch_never_touches_a_job_that_is_not_terminal(database: Runtime) -> None:
    ids = _jobs(database)
    in_the_future = utcnow() + timedelta(days=1)
    with database.transaction() as session:
        assert delete_batch(session, ids["running"], in_the_future, 1000) == 0
        assert delete_batch(session, ids["recent"], utcnow() - timedelta(days=30), 1000) == 0
    assert _points(database, ids["running"]) == _points(database, ids["recent"]) == POINTS


def test_refuses_an_age_that_is_not_positive(database: Runtime) -> None:
    with pytest.raises(ValueError, match="positive"):
        prune_raw_points(database.transaction, timedelta(0))


def test_the_command_prunes_asks_first_and_refuses_bad_arguments(
    pg_url: str, pg_engine: Engine, runtime: Runtime, tmp_path: object
) -> None:
    ids = _jobs(runtime)
    env = {**os.environ, "DATABASE_URL": pg_url, "DATA_DIR": str(tmp_path)}
    env.pop("REDIS_URL", None)
    for bad in ("0", "-3", "abc", "nan", "1e9"):
        refused = run_cli(["metrics", "prune", "--older-than", bad, "--yes"], env)
        assert refused.returncode == 2, (bad, refused.stderr)
        assert "--older-than" in refused.stderr
    assert run_cli(["metrics", "prune", "--yes"], env).returncode == 2

    dry = run_cli(["metrics", "prune", "--older-than", "30", "--dry-run"], env)
    assert dry.returncode == 0, dry.stderr
    assert f"would delete {3 * POINTS} raw points of 3 jobs" in dry.stdout
    declined = run_cli(["metrics", "prune", "--older-than", "30"], env, stdin="n\n")
    assert declined.returncode == 1
    assert _points(runtime, ids["old_failed"]) == POINTS

    done = run_cli(["metrics", "prune", "--older-than", "30", "--batch-size", "4"], env, stdin="y\n")
    assert done.returncode == 0, done.stderr
    assert f"deleted {3 * POINTS} raw points of 3 jobs" in done.stdout
    assert str(ids["old_failed"]) in done.stdout
    assert _points(runtime, ids["old_failed"]) == 0
    assert _points(runtime, ids["running"]) == POINTS
    nothing = run_cli(["metrics", "prune", "--older-than", "30", "--yes"], env)
    assert nothing.returncode == 0
    assert "deleted 0 raw points of 0 jobs" in nothing.stdout
