"""`insert_points` (and the executemany path under it) on both databases: it stores every new
(job_id, step) once, skips the ones already stored, and reports the number it really stored.

On SQLite the executemany's rowcount said 0 for 20 stored points; the count now comes from what the
INSERT returned, so ingestion's `points_inserted` is true on the embedded default too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.runtime import Runtime
from contract.results import MetricsPoint
from db.base import utcnow
from db.metric_store import PointRow, executemany_insert, insert_points, point_rows
from db.models import MetricPoint
from tests.accounts import make_user
from tests.factories import make_dataset, make_job

Insert = Callable[[Session, Sequence[PointRow]], int]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Runtime:
    return request.getfixturevalue("sqlite_runtime" if request.param == "sqlite" else "runtime")


def _job(database: Runtime) -> uuid.UUID:
    owner = make_user(database, f"owner-{uuid.uuid4().hex[:6]}@example.com")
    with database.transaction() as session:
        dataset = make_dataset(session, owner)
        return make_job(session, owner, dataset.id).id


def _rows(job_id: uuid.UUID, steps: range) -> list[PointRow]:
    points = [MetricsPoint(step, 1, None, training_loss=2.0 / step, gpu_utilization=90.0) for step in steps]
    return point_rows(job_id, points, default_time=utcnow())


def _stored(database: Runtime, job_id: uuid.UUID) -> int:
    with database.sessions() as session:
        return session.scalar(select(func.count()).where(MetricPoint.job_id == job_id)) or 0


@pytest.mark.parametrize("insert", [insert_points, executemany_insert], ids=["insert_points", "executemany"])
def test_the_count_is_what_was_stored_and_repeats_count_zero(database: Runtime, insert: Insert) -> None:
    job_id = _job(database)
    with database.transaction() as session:
        assert insert(session, _rows(job_id, range(1, 21))) == 20
    assert _stored(database, job_id) == 20
    with database.transaction() as session:
        assert insert(session, _rows(job_id, range(1, 21))) == 0
        assert insert(session, _rows(job_id, range(15, 31))) == 10  # 15-20 already stored
    assert _stored(database, job_id) == 30


def test_nothing_to_store_counts_zero(database: Runtime) -> None:
    with database.transaction() as session:
        assert insert_points(session, []) == 0


def test_stored_values_keep_their_columns(database: Runtime) -> None:
    job_id = _job(database)
    with database.transaction() as session:
        insert_points(session, _rows(job_id, range(4, 5)))
    with database.sessions() as session:
        point = session.scalars(select(MetricPoint).where(MetricPoint.job_id == job_id)).one()
    assert (point.step, point.epoch, point.training_loss, point.validation_loss) == (4, 1.0, 0.5, None)
    assert point.gpu_utilization == 90.0
