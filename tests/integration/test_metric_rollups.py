"""Rollups kept by the ingest path: the chart they serve keeps every spike, dip, global extreme, first
and last point a full scan finds (1M points on PostgreSQL, fewer on SQLite), duplicates are never
counted twice, and two writers interleaving on one job leave the rollups one writer would."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select, text
from sqlalchemy.orm import Session

from db.metric_rollups import WIDTHS, columns, python_rollups, rollup_series
from db.metric_store import PointRow, insert_points
from db.migrate import upgrade
from db.models import JobStatus, MetricPoint, MetricRollup, TrainingJob
from db.session import make_engine, make_session_factory
from services.downsample import series_names
from services.metric_rows import kept_steps, metric_rows
from services.metrics import load_metric_rows, metrics_payload
from services.metrics_buckets import BucketSummary, bucket_width, fold_rows, summary_buckets, summary_payload
from tests.factories import make_dataset, make_job

ORIGIN = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 20_000  # points per cycle-sized transaction


def _job(engine: Engine) -> uuid.UUID:
    factory = make_session_factory(engine)
    with factory.begin() as session:
        user = make_user_in(session)
        dataset = make_dataset(session, user)
        return make_job(session, user, dataset.id, status=JobStatus.RUNNING, started_at=ORIGIN).id


def make_user_in(session: Session) -> int:
    from db.models import User

    user = User(email=f"rollups-{uuid.uuid4().hex[:8]}@example.com", password_hash="x")
    session.add(user)
    session.flush()
    return user.id


def _points(job_id: uuid.UUID, first: int, last: int, planted: dict[int, float]) -> list[PointRow]:
    rng = random.Random(first)
    rows: list[PointRow] = []
    for step in range(first, last + 1):
        loss = planted.get(step, 1.0 + rng.random() * 0.1)
        rows.append(
            (
                job_id,
                ORIGIN + timedelta(seconds=step / 2),
                step / 1000,
                step,
                loss,
                loss + 0.05 if step % 50 == 0 else None,
                2e-4,
                1.0 + rng.random(),
                3000.0 + rng.random(),
                float(round(90 + rng.random() * 5)),  # whole percent: ties within buckets
            )
        )
    return rows


def _ingest(engine: Engine, rows: list[PointRow], batch: int) -> int:
    factory = make_session_factory(engine)
    stored = 0
    for start in range(0, len(rows), batch):
        with factory.begin() as session:
            stored += insert_points(session, rows[start : start + batch])
    return stored


def _served(engine: Engine, job_id: uuid.UUID) -> dict[str, Any]:
    with make_session_factory(engine).begin() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        return dict(metrics_payload(session, job))


def _full_scan(engine: Engine, job_id: uuid.UUID) -> dict[str, Any]:
    """The same payload from every raw row, folded in Python (no rollup involved)."""
    with make_session_factory(engine).begin() as session:
        rows = load_metric_rows(session, job_id)
    width = bucket_width(rows[0][0], rows[-1][0], summary_buckets(1000))
    summary = BucketSummary(width=width, upto_step=rows[0][0] - 1)
    fold_rows(summary, rows, summary_buckets(1000))
    return dict(summary_payload(summary, 1000, ORIGIN.timestamp()))


def _pairs(payload: dict[str, Any], name: str) -> set[tuple[int, float]]:
    series = payload["series"][name]
    return set(zip(series["step"], series["value"], strict=True))


def _check_fidelity(engine: Engine, n: int) -> None:
    job_id = _job(engine)
    spikes = {n // 7: 50.0, n // 3 + 1: 40.0, n - 5: 30.0}
    dips = {n // 5: -3.0, n // 2 + 3: -2.0}
    rows = _points(job_id, 1, n, {**spikes, **dips})
    assert _ingest(engine, rows, BATCH) == n
    # A poll re-delivers an overlapping window and a callback the tail: nothing is counted twice.
    assert _ingest(engine, rows[n // 2 : n // 2 + 3_000] + rows[-500:], 1_000) == 0
    served, scanned = _served(engine, job_id), _full_scan(engine, job_id)
    assert served == scanned
    loss = _pairs(served, "training_loss")
    assert set(spikes.items()) | set(dips.items()) <= loss
    assert min(value for _, value in loss) == -3.0
    assert max(value for _, value in loss) == 50.0
    assert served["total_points"] == n
    assert served["last_step"] == n
    for name in series_names():
        steps = served["series"][name]["step"]
        assert steps[-1] == scanned["series"][name]["step"][-1]
        assert steps[0] == scanned["series"][name]["step"][0]
        assert len(steps) <= 1000


@pytest.mark.slow
def test_rollups_serve_the_spikes_dips_and_edges_of_a_full_scan_at_1m_points(pg_engine: Engine) -> None:
    _check_fidelity(pg_engine, 1_000_000)


def test_rollups_serve_the_same_payload_as_a_full_scan_on_sqlite(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pipeline.db'}")
    upgrade(engine)
    try:
        _check_fidelity(engine, 30_000)
    finally:
        engine.dispose()


def _stored_rollups(engine: Engine, job_id: uuid.UUID) -> list[tuple[Any, ...]]:
    names = columns(rollup_series())
    table = MetricRollup.__table__
    query = select(*(table.c[c] for c in names)).where(table.c.job_id == job_id)
    with engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(query.order_by(table.c.width, table.c.bucket)))


def _expected_rollups(engine: Engine, job_id: uuid.UUID) -> list[tuple[Any, ...]]:
    with make_session_factory(engine).begin() as session:
        rows = load_metric_rows(session, job_id)
    return sorted(python_rollups([(job_id, *row) for row in rows], rollup_series()))


def test_two_interleaved_writers_leave_the_rollups_of_one(pg_engine: Engine) -> None:
    job_id = _job(pg_engine)
    rows = _points(job_id, 1, 40_000, {7_777: 9.0, 31_000: -1.0})
    polls = [rows[i : i + 400] for i in range(0, len(rows), 400)]
    callbacks = [rows[i + 200 : i + 700] for i in range(0, len(rows), 300)]  # overlapping the polls
    errors: list[BaseException] = []

    def writer(batches: list[list[PointRow]]) -> None:
        try:
            _ingest(pg_engine, [row for batch in batches for row in batch], 400)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(batches,)) for batches in (polls, callbacks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with pg_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(MetricPoint)) == 40_000
    stored = _stored_rollups(pg_engine, job_id)
    assert {row[1] for row in stored} == set(WIDTHS)
    assert stored == _expected_rollups(pg_engine, job_id)


def test_the_chart_still_draws_when_the_raw_points_are_dropped(pg_engine: Engine) -> None:
    job_id = _job(pg_engine)
    _ingest(pg_engine, _points(job_id, 1, 50_000, {12_345: 99.0}), BATCH)
    before = _served(pg_engine, job_id)
    with make_session_factory(pg_engine).begin() as session:
        session.execute(delete(MetricPoint).where(MetricPoint.job_id == job_id, MetricPoint.step <= 40_000))
    after = _served(pg_engine, job_id)
    assert after["total_points"] == 50_000
    assert after["last_step"] == 50_000
    assert (12_345, 99.0) in _pairs(after, "training_loss")
    for name in series_names():  # the same extremes and last point; only the first is approximate
        assert max(_pairs(after, name)) == max(_pairs(before, name))
        values, kept = after["series"][name]["value"], before["series"][name]["value"]
        assert (min(values), max(values)) == (min(kept), max(kept))


def test_rows_form_answers_from_the_rollups_where_points_were_dropped(pg_engine: Engine) -> None:
    job_id = _job(pg_engine)
    _ingest(pg_engine, _points(job_id, 1, 20_000, {4_321: 77.0}), BATCH)
    with make_session_factory(pg_engine).begin() as session:
        session.execute(delete(MetricPoint).where(MetricPoint.job_id == job_id, MetricPoint.step <= 10_000))
        job = session.get(TrainingJob, job_id)
        assert job is not None
        payload = metrics_payload(session, job)
        rows = metric_rows(session, job_id, payload)
    assert [row["step"] for row in rows] == kept_steps(payload)
    spike = next(row for row in rows if row["step"] == 4_321)
    assert (spike["training_loss"], spike["timestamp"]) == (77.0, None)
    assert rows[-1]["timestamp"] is not None  # still stored: the full row


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_migration_0007_builds_the_rollups_of_points_already_stored(
    dialect: str, tmp_path: Any, pg_engine: Engine
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}") if dialect == "sqlite" else _fresh_pg(pg_engine)
    try:
        upgrade(engine, "0006")
        job_id = _job(engine)  # the jobs table is as 0006 left it
        rows = _points(job_id, 1, 5_000, {1_234: 8.0})
        names = ("job_id", "timestamp", "epoch", "step", *series_names())
        with engine.begin() as connection:
            connection.execute(insert(MetricPoint), [dict(zip(names, row, strict=True)) for row in rows])
        upgrade(engine)
        assert _stored_rollups(engine, job_id) == _expected_rollups(engine, job_id)
        assert (1_234, 8.0) in _pairs(_served(engine, job_id), "training_loss")
    finally:
        engine.dispose()
        if dialect == "postgresql":
            with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text(f'DROP DATABASE "{engine.url.database}" WITH (FORCE)'))


def _fresh_pg(pg_engine: Engine) -> Engine:
    """An empty database beside the test one (dropped with the server's test databases)."""
    name = f"rollups_migration_{uuid.uuid4().hex[:8]}"
    with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return make_engine(pg_engine.url.set(database=name).render_as_string(hide_password=False))
