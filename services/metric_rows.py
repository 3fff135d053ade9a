"""The specification's metric rows for `GET /api/jobs/<id>`: one object per kept step, ascending.

Which steps are kept is decided by the columnar payload (services/metrics.py): first and last
point, global and per-bucket minimum and maximum of every series, within `max_points` per series.
The rows are those steps' stored points, read back by (job_id, step), the table's unique index, so
each row carries every value stored at its step, its epoch and its timestamp. A step whose point
was dropped (retention keeps only rollups) is answered with the values the payload kept there. PostgreSQL gets the
steps as one array parameter (`step = ANY(:steps)`: measured 4-5x faster than an IN list of 5,000
bound values); SQLite gets IN lists of at most STEPS_PER_QUERY.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Integer, Select, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from db.models import MetricPoint
from services.downsample import MetricsPayload, series_names
from services.serialize import timestamp

STEPS_PER_QUERY = 5000  # under SQLite's bound-parameter limit; a few index probes each on PostgreSQL


def kept_steps(payload: MetricsPayload) -> list[int]:
    """Every step some series of the payload kept, ascending (the union over series)."""
    return sorted({step for series in payload["series"].values() for step in series["step"]})


def metric_rows(session: Session, job_id: uuid.UUID, payload: MetricsPayload) -> list[dict[str, Any]]:
    """`[{step, epoch, timestamp, <every catalogue metric>}]` for the payload's kept steps, ascending."""
    names = series_names()
    columns = [getattr(MetricPoint, name) for name in names]
    query = select(MetricPoint.step, MetricPoint.epoch, MetricPoint.timestamp, *columns).where(
        MetricPoint.job_id == job_id
    )
    steps = kept_steps(payload)
    rows: list[dict[str, Any]] = []
    for chunk_query in _step_queries(session, query, steps):
        for row in session.execute(chunk_query.order_by(MetricPoint.step)).all():
            values = {name: _finite(value) for name, value in zip(names, row[3:], strict=True)}
            rows.append({"step": row[0], "epoch": row[1], "timestamp": timestamp(row[2]), **values})
    if len(rows) < len(steps):  # some points were dropped (retention): their kept values stand in
        rows = sorted(
            rows + _kept_only(payload, steps, {row["step"] for row in rows}), key=lambda r: r["step"]
        )
    return rows


def _kept_only(payload: MetricsPayload, steps: list[int], stored: set[int]) -> list[dict[str, Any]]:
    """Rows for kept steps whose point is no longer stored: the values the payload kept at that
    step (from the rollups), null for the series that kept none there, no epoch or timestamp."""
    kept = {
        name: dict(zip(series["step"], series["value"], strict=True))
        for name, series in payload["series"].items()
    }
    return [
        {
            "step": step,
            "epoch": None,
            "timestamp": None,
            **{name: kept[name].get(step) for name in series_names()},
        }
        for step in steps
        if step not in stored
    ]


def _step_queries(session: Session, query: Select[Any], steps: list[int]) -> Iterator[Select[Any]]:
    """`query` restricted to `steps`, as few queries as the dialect allows (in ascending step order)."""
    if not steps:
        return
    if session.get_bind().dialect.name == "postgresql":
        yield query.where(MetricPoint.step == any_(bindparam("steps", steps, type_=ARRAY(Integer))))
        return
    for start in range(0, len(steps), STEPS_PER_QUERY):
        yield query.where(MetricPoint.step.in_(steps[start : start + STEPS_PER_QUERY]))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
