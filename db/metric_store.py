"""Metric points, stored once per (job_id, step), in bulk.

Values arrive already validated field by field (contract/parsing.py drops NaN, infinities,
strings and impossible values with a note, which ingestion records as a job event). `insert_points` writes
any number of points for any number of jobs in one round of statements: on PostgreSQL a binary COPY
into a per-connection staging table and one `INSERT ... SELECT ... ON CONFLICT DO NOTHING` (measured
in benchmarks/ingest_rate.py against executemany and row-by-row ORM inserts); elsewhere (the SQLite
embedded default) one executemany with the dialect's ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from contract.results import MetricsPoint
from db.models import MetricPoint

COLUMNS = (
    "job_id",
    "timestamp",
    "epoch",
    "step",
    "training_loss",
    "validation_loss",
    "learning_rate",
    "gradient_norm",
    "throughput",
    "gpu_utilization",
)


# One storable point, in `COLUMNS` order (what COPY writes). A plain tuple, not a NamedTuple: a
# cycle builds tens of thousands of them and tuple() is several times cheaper to construct.
PointRow = tuple[
    uuid.UUID,  # job_id
    datetime,  # timestamp
    float | None,  # epoch
    int,  # step
    float | None,  # training_loss
    float | None,  # validation_loss
    float | None,  # learning_rate
    float | None,  # gradient_norm
    float | None,  # throughput
    float | None,  # gpu_utilization
]


def point_rows(
    job_id: uuid.UUID, points: Iterable[MetricsPoint], *, default_time: datetime
) -> list[PointRow]:
    """Validated cluster points (contract/parsing.py already dropped bad values) as rows."""
    return [
        (
            job_id,
            point.timestamp or default_time,
            point.epoch,
            point.step,
            point.training_loss,
            point.validation_loss,
            point.learning_rate,
            point.gradient_norm,
            point.throughput,
            point.gpu_utilization,
        )
        for point in points
    ]


def insert_points(session: Session, rows: Sequence[PointRow]) -> int:
    """Store `rows` (any jobs), skipping (job_id, step) pairs already stored; returns rows inserted.

    Runs in the caller's transaction. Safe to call twice with the same points, and from two
    workers at once: the unique (job_id, step) constraint decides, and the loser skips.
    """
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        return _copy_insert(session, rows)
    return executemany_insert(session, rows)


_STAGING = "pipeline_metrics_staging"
_CREATE_STAGING = f"""
CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (
    job_id uuid NOT NULL, timestamp timestamptz NOT NULL, epoch float8, step integer NOT NULL,
    training_loss float8, validation_loss float8, learning_rate float8, gradient_norm float8,
    throughput float8, gpu_utilization float8
) ON COMMIT DELETE ROWS
"""
_COLUMN_LIST = ", ".join(COLUMNS)
# Fixed SQL text (no user input): the column list is spelled out once more on purpose.
_MERGE = """
INSERT INTO lora_metrics_points (job_id, timestamp, epoch, step, training_loss, validation_loss,
    learning_rate, gradient_norm, throughput, gpu_utilization)
SELECT job_id, timestamp, epoch, step, training_loss, validation_loss,
    learning_rate, gradient_norm, throughput, gpu_utilization
FROM pipeline_metrics_staging
ON CONFLICT (job_id, step) DO NOTHING
"""
_COPY_TYPES = ["uuid", "timestamptz", "float8", "int4", *(["float8"] * 6)]


def _copy_insert(session: Session, rows: Iterable[PointRow]) -> int:
    """Binary COPY into a temp staging table (emptied at commit), then one conflict-skipping INSERT."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(_CREATE_STAGING)
        cursor.execute(f"TRUNCATE {_STAGING}")  # rows from an earlier statement in this transaction
        with cursor.copy(f"COPY {_STAGING} ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        cursor.execute(_MERGE)
        return max(cursor.rowcount, 0)


def executemany_insert(session: Session, rows: Sequence[PointRow]) -> int:
    """One INSERT executed for many rows (insertmanyvalues), ON CONFLICT DO NOTHING per dialect.

    Built on the Table, not the mapped class: the ORM's bulk path returns no rowcount, so the count of
    points stored (the callback's answer, the cycle's summary) would always read 0 on SQLite.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    table = cast(Table, MetricPoint.__table__)
    stmt = dialect_insert(table).on_conflict_do_nothing(index_elements=["job_id", "step"])
    result = session.execute(stmt, [dict(zip(COLUMNS, row, strict=True)) for row in rows])
    return max(int(getattr(result, "rowcount", 0) or 0), 0)
