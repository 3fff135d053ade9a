"""Metric points, stored once per (job_id, step), in bulk, with their rollups (db/metric_rollups.py).

PostgreSQL: a binary COPY into a staging table and one statement that inserts the points
(`ON CONFLICT DO NOTHING ... RETURNING`) and merges the rollups of exactly the inserted ones;
SQLite: one executemany with ON CONFLICT DO NOTHING RETURNING the stored steps, then their rollups
folded in Python and merged. Column names come from the metric catalogue and values only travel as
COPY data or bound parameters (docs/architecture.md §6, §2a).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from catalog.metrics import contract_metrics, metric_names
from contract.results import MetricsPoint
from db.metric_rollups import (
    PLAN_SETTINGS,
    python_rollups,
    rollup_series,
    summarize_sql,
    upsert_python_rollups,
    upsert_sql,
)
from db.models import MetricPoint

POINT_COLUMNS = ("job_id", "timestamp", "epoch", "step")  # a stored point's columns before its metrics
_POINT_TYPES = ("uuid NOT NULL", "timestamptz NOT NULL", "float8", "integer NOT NULL")
_COPY_POINT_TYPES = ("uuid", "timestamptz", "float8", "int4")
_STAGING = "pipeline_metrics_staging"
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")

# One storable point in `columns()` order (what COPY writes): (job_id, timestamp, epoch, step,
# *metric values). A plain tuple, not a NamedTuple: a cycle builds tens of thousands of them and
# tuple() is several times cheaper to construct.
PointRow = tuple[Any, ...]


def columns() -> tuple[str, ...]:
    """The columns of a stored point in row order: the point's own, then every catalogue metric."""
    return (*POINT_COLUMNS, *metric_names())


def point_rows(
    job_id: uuid.UUID, points: Iterable[MetricsPoint], *, default_time: datetime
) -> list[PointRow]:
    """Validated cluster points (contract/parsing.py already dropped bad values) as rows."""
    pick = _metric_picker(metric_names())
    return [
        (job_id, point.timestamp or default_time, point.epoch, point.step, *pick(point)) for point in points
    ]


def _metric_picker(names: tuple[str, ...]) -> Callable[[MetricsPoint], tuple[float | None, ...]]:
    """A point's values for these columns. Every catalogue metric is normally in the contract, so
    one C-level itemgetter picks them (a cycle builds tens of thousands of rows); a metric the
    contract does not carry is stored as NULL."""
    contract = {metric.name for metric in contract_metrics()}
    if len(names) > 1 and contract.issuperset(names):
        getter = itemgetter(*names)
        return lambda point: getter(point.metrics.values)
    return lambda point: tuple(point.metrics.values.get(name) for name in names)


def insert_points(session: Session, rows: Sequence[PointRow]) -> int:
    """Store `rows` (any jobs), skipping (job_id, step) pairs already stored, and merge the stored
    ones into the jobs' rollups; returns rows inserted.

    Runs in the caller's transaction. Safe to call twice with the same points, and from two
    workers at once: the unique (job_id, step) constraint decides, and the loser skips.
    """
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        return _copy_insert(session, rows)
    return _executemany_with_rollups(session, rows)


class CopyStatements(NamedTuple):
    """The PostgreSQL statements of one column list (see `copy_statements`)."""

    create_staging: str
    copy: str
    merge: str
    copy_types: tuple[str, ...]


@cache
def copy_statements(metrics: tuple[str, ...], series: tuple[str, ...]) -> CopyStatements:
    """The staging DDL, the COPY and the conflict-skipping merge for these metric columns, which
    also merges the inserted points of these rollup `series` into the rollups (one round trip).

    Built from the point's fixed columns and the catalogue's identifiers only (see the module doc).

    Raises:
        ValueError: a name that is not a plain lower-case identifier (never put in SQL text).
    """
    if not all(_IDENTIFIER.fullmatch(name) for name in metrics):
        raise ValueError(f"metric columns must be lower-case identifiers: {metrics!r}")
    names = (*POINT_COLUMNS, *metrics)
    column_list = ", ".join(names)
    definitions = [f"{n} {t}" for n, t in zip(POINT_COLUMNS, _POINT_TYPES, strict=True)]
    definitions += [f"{name} float8" for name in metrics]
    return CopyStatements(
        create_staging=(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} ({', '.join(definitions)}) ON COMMIT DELETE ROWS"
        ),
        copy=f"COPY {_STAGING} ({column_list}) FROM STDIN (FORMAT BINARY)",
        merge=(  # identifiers only, checked above; no value is ever part of this text
            f"WITH ins AS (INSERT INTO {MetricPoint.__tablename__} ({column_list}) "  # noqa: S608
            f"SELECT {column_list} FROM {_STAGING} ON CONFLICT (job_id, step) DO NOTHING "
            f"RETURNING job_id, step, timestamp, {', '.join(series)}), "
            f"{summarize_sql(series, 'ins')}, rollup AS ({upsert_sql(series)}) SELECT count(*) FROM ins"
        ),
        copy_types=(*_COPY_POINT_TYPES, *(["float8"] * len(metrics))),
    )


def _copy_insert(session: Session, rows: Iterable[PointRow]) -> int:
    """Binary COPY into a temp staging table (emptied at commit), then one conflict-skipping INSERT."""
    statements = copy_statements(metric_names(), rollup_series())
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        # One round trip: the staging table, emptied of an earlier batch of this transaction, and the
        # planner settings every rollup statement runs with.
        cursor.execute(f"{statements.create_staging}; TRUNCATE {_STAGING}; {PLAN_SETTINGS}")
        with cursor.copy(statements.copy) as copy:
            copy.set_types(list(statements.copy_types))
            for row in rows:
                copy.write_row(row)
        cursor.execute(statements.merge)
        row = cursor.fetchone()
        return int(row[0]) if row else 0


def _executemany_with_rollups(session: Session, rows: Sequence[PointRow]) -> int:
    """SQLite: the points with one executemany returning the steps it stored, then their rollups."""
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    statement = sqlite_insert(MetricPoint).on_conflict_do_nothing(index_elements=["job_id", "step"])
    params = [dict(zip(columns(), row, strict=True)) for row in rows]
    returned = session.connection().execute(statement.returning(MetricPoint.job_id, MetricPoint.step), params)
    stored = {(job_id, step) for job_id, step in returned}
    series = rollup_series()
    names = columns()
    at = [names.index(name) for name in series]
    new = [
        (row[0], row[3], row[1].timestamp(), *(row[i] for i in at))
        for row in rows
        if (row[0], row[3]) in stored
    ]
    upsert_python_rollups(session, python_rollups(new, series), series)
    return len(stored)


def executemany_insert(session: Session, rows: Sequence[PointRow]) -> int:
    """One INSERT executed for many rows (insertmanyvalues), ON CONFLICT DO NOTHING per dialect,
    without rollups (the benchmark's baseline).

    Returns the rows stored. SQLite's executemany rowcount counts them (skipped conflicts excluded);
    psycopg reports none for a batched executemany, so on PostgreSQL the ids come back instead. (An
    ORM-level execute has no rowcount at all: this used to report 0 for 20 stored points.)
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    stmt = dialect_insert(MetricPoint).on_conflict_do_nothing(index_elements=["job_id", "step"])
    names = columns()
    params = [dict(zip(names, row, strict=True)) for row in rows]
    if dialect == "postgresql":
        return len(session.connection().execute(stmt.returning(MetricPoint.id), params).all())
    return max(session.connection().execute(stmt, params).rowcount, 0)
