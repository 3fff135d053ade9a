"""PostgreSQL side of metric downsampling: bucket a job's history without shipping it to Python.

Two scans of the job's rows, both in the database:
1. `GROUP BY step / width` with plain min/max/count per series (plain float aggregates run ~8×
   faster than the `min(ARRAY[value, step])` trick that would find the argmin in one pass);
2. the rows holding those extremes (and each bucket's first/last step, for elapsed time), found
   with `= ANY(:values)` lists, which PostgreSQL ≥ 14 evaluates as hash lookups.
Only ~1–100k candidate rows cross the wire instead of a million; Python keeps, per bucket and
series, the earliest row whose value equals the bucket's min or max.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Float, Select, any_, bindparam, cast, extract, func, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY, DOUBLE_PRECISION, INTEGER
from sqlalchemy.orm import Session

from components.downsample import SERIES_NAMES
from db.metrics_buckets import Bucket, BucketSummary
from db.models import MetricPoint

_POINTS = MetricPoint.__table__.c


def _phase1(job_id: uuid.UUID, width: int, upto_step: int) -> Select[Any]:
    """Per bucket: row count, first/last step, then count/min/max of every series."""
    columns: list[Any] = [_POINTS.step // width, func.count(), func.min(_POINTS.step), func.max(_POINTS.step)]
    for name in SERIES_NAMES:
        columns += [func.count(_POINTS[name]), func.min(_POINTS[name]), func.max(_POINTS[name])]
    return (
        select(*columns)
        .where(_POINTS.job_id == job_id, _POINTS.step <= upto_step)
        .group_by(text("1"))  # the bucket expression; repeating it would bind `width` twice
    )


def _phase2(job_id: uuid.UUID, upto_step: int, steps: list[int], values: list[list[float]]) -> Select[Any]:
    """Rows that are a bucket's first/last step or hold one of the bucket extremes."""
    matches = [_POINTS.step == any_(bindparam("steps", steps, type_=ARRAY(INTEGER)))]
    for index, name in enumerate(SERIES_NAMES):
        if values[index]:
            found = bindparam(f"v{index}", values[index], type_=ARRAY(DOUBLE_PRECISION))
            matches.append(_POINTS[name] == any_(found))
    return (
        select(
            _POINTS.step,
            cast(extract("epoch", _POINTS.timestamp), Float),
            *(_POINTS[name] for name in SERIES_NAMES),
        )
        .where(_POINTS.job_id == job_id, _POINTS.step <= upto_step, or_(*matches))
        .order_by(_POINTS.step)
    )


def _edge_point(
    session: Session, job_id: uuid.UUID, name: str, low: int, high: int, *, last: bool
) -> tuple[int, float] | None:
    """First (or last) non-null point of a series within one bucket's step range (≤ width rows)."""
    query = (
        select(_POINTS.step, _POINTS[name])
        .where(_POINTS.job_id == job_id, _POINTS.step.between(low, high), _POINTS[name].is_not(None))
        .order_by(_POINTS.step.desc() if last else _POINTS.step)
        .limit(1)
    )
    row = session.execute(query).first()
    return None if row is None else (int(row[0]), float(row[1]))


def summarize(session: Session, job_id: uuid.UUID, width: int, upto_step: int) -> BucketSummary:
    """The bucket summary of every point with step <= upto_step, at the given width."""
    summary = BucketSummary(width=width, upto_step=upto_step)
    aggregates = session.execute(_phase1(job_id, width, upto_step)).all()
    if not aggregates:
        return summary
    wanted: dict[int, tuple[Any, ...]] = {}
    edge_steps: set[int] = set()
    values: list[set[float]] = [set() for _ in SERIES_NAMES]
    for row in aggregates:
        wanted[int(row[0])] = row
        summary.total += int(row[1])
        edge_steps.update((int(row[2]), int(row[3])))
        for index in range(len(SERIES_NAMES)):
            low, high = row[5 + 3 * index], row[6 + 3 * index]
            values[index].update(v for v in (low, high) if v is not None)
    candidates = session.execute(
        _phase2(job_id, upto_step, sorted(edge_steps), [sorted(found) for found in values])
    ).all()
    for row in candidates:
        _place(summary, wanted, row)
    _series_edges(session, job_id, summary, wanted)
    return summary


def _place(summary: BucketSummary, wanted: dict[int, tuple[Any, ...]], row: tuple[Any, ...]) -> None:
    """Put a candidate row where it belongs: a bucket's first/last row, or a series' min/max."""
    step = int(row[0])
    index = step // summary.width
    aggregate = wanted[index]
    bucket = summary.buckets.get(index)
    if bucket is None:
        bucket = summary.buckets[index] = Bucket(count=int(aggregate[1]))
        for offset, name in enumerate(SERIES_NAMES):
            bucket.series[name].count = int(aggregate[4 + 3 * offset])
    if step == aggregate[2]:
        bucket.first = (step, float(row[1]))
    if step == aggregate[3]:
        bucket.last = (step, float(row[1]))
    for offset, name in enumerate(SERIES_NAMES):
        value = row[2 + offset]
        series = bucket.series[name]
        if value is None:
            continue
        if series.low is None and value == aggregate[5 + 3 * offset]:
            series.low = (step, float(value))  # rows arrive in step order: the earliest wins ties
        if series.high is None and value == aggregate[6 + 3 * offset]:
            series.high = (step, float(value))


def _series_edges(
    session: Session, job_id: uuid.UUID, summary: BucketSummary, wanted: dict[int, tuple[Any, ...]]
) -> None:
    ordered = sorted(wanted)
    for offset, name in enumerate(SERIES_NAMES):
        present = [index for index in ordered if wanted[index][4 + 3 * offset]]
        if not present:
            continue
        width = summary.width
        first = _edge_point(
            session, job_id, name, present[0] * width, present[0] * width + width - 1, last=False
        )
        last = _edge_point(
            session,
            job_id,
            name,
            present[-1] * width,
            min(present[-1] * width + width - 1, summary.upto_step),
            last=True,
        )
        if first is not None:
            summary.first[name] = first
        if last is not None:
            summary.last[name] = last
