"""PostgreSQL bucketing of raw points without shipping them to Python: a `since_step` cursor far
behind (the history itself comes from rollups), and the benchmarks' full-scan baseline.

One grouping statement with plain aggregates, one join back to the extremes for their earliest steps,
then small indexed lookups for first and last points (why this shape: docs/architecture.md §8).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Float, Select, any_, bindparam, cast, extract, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, DOUBLE_PRECISION, INTEGER
from sqlalchemy.orm import Session

from db.models import MetricPoint
from services.metrics_buckets import NAN, BucketSummary

_POINTS = MetricPoint.__table__.c
# Columns of the bucket query after (b, n, first_step, last_step), per series in this order.
_PER_SERIES = 3  # count, min, max


def _window(job_id: uuid.UUID, upto_step: int, after_step: int | None) -> list[Any]:
    conditions = [_POINTS.job_id == job_id, _POINTS.step <= upto_step]
    if after_step is not None:
        conditions.append(_POINTS.step > after_step)
    return conditions


def _bucket_query(
    job_id: uuid.UUID, width: int, upto_step: int, after_step: int | None, names: tuple[str, ...]
) -> Select[Any]:
    columns: list[Any] = [_POINTS.step // width, func.count(), func.min(_POINTS.step), func.max(_POINTS.step)]
    for name in names:
        value = _POINTS[name]
        columns += [func.count(value), func.min(value), func.max(value)]
    return (
        select(*columns)
        .where(*_window(job_id, upto_step, after_step))
        .group_by(text("1"))  # the bucket expression; repeating it would bind `width` twice
        .order_by(text("1"))
    )


def _argmin_query(
    job_id: uuid.UUID,
    width: int,
    window: list[Any],
    buckets: list[int],
    extremes: list[list[float | None]],
    names: tuple[str, ...],
) -> Select[Any]:
    """Per bucket, the earliest step whose value equals the bucket's min (then max) of each series."""
    arrays = [bindparam("buckets", buckets, type_=ARRAY(INTEGER))]
    arrays += [bindparam(f"x{i}", values, type_=ARRAY(DOUBLE_PRECISION)) for i, values in enumerate(extremes)]
    agg_columns = ["b", *(f"x{i}" for i in range(len(extremes)))]
    agg = func.unnest(*arrays).table_valued(*agg_columns).render_derived(name="agg")
    flags = [(_POINTS[names[i // 2]] == agg.c[f"x{i}"]).label(f"f{i}") for i in range(len(extremes))]
    matched = (
        select(agg.c.b, _POINTS.step, *flags)
        .select_from(MetricPoint.__table__.join(agg, agg.c.b == _POINTS.step // width))
        .where(*window)
        .subquery()
    )
    return (
        select(
            matched.c.b, *(func.min(matched.c.step).filter(matched.c[f"f{i}"]) for i in range(len(extremes)))
        )
        .group_by(matched.c.b)
        .order_by(matched.c.b)
    )


def _rows_at(session: Session, job_id: uuid.UUID, steps: list[int]) -> dict[int, Any]:
    query = select(_POINTS.step, cast(extract("epoch", _POINTS.timestamp), Float)).where(
        _POINTS.job_id == job_id, _POINTS.step == any_(bindparam("steps", steps, type_=ARRAY(INTEGER)))
    )
    return {int(row[0]): row for row in session.execute(query)}


def summarize(
    session: Session, job_id: uuid.UUID, width: int, upto_step: int, *, after_step: int | None = None
) -> BucketSummary:
    """The bucket summary of every point with after_step < step <= upto_step, at the given width."""
    summary = BucketSummary(width=width, upto_step=upto_step)
    window = _window(job_id, upto_step, after_step)
    buckets = session.execute(_bucket_query(job_id, width, upto_step, after_step, summary.names)).all()
    if not buckets:
        return summary
    n_series = len(summary.names)
    extremes: list[list[float | None]] = [[] for _ in range(2 * n_series)]
    wanted: set[int] = set()
    for row in buckets:
        summary.append_bucket(int(row[0]), int(row[1]), (int(row[2]), NAN), (int(row[3]), NAN))
        summary.total += int(row[1])
        wanted.update((int(row[2]), int(row[3])))
        for s in range(n_series):
            count, low, high = row[4 + _PER_SERIES * s : 4 + _PER_SERIES * (s + 1)]
            summary.s_count[s][-1] = int(count)
            extremes[2 * s].append(low)
            extremes[2 * s + 1].append(high)
            if count:
                summary.lo_val[s][-1], summary.hi_val[s][-1] = float(low), float(high)
    argmins = session.execute(
        _argmin_query(job_id, width, window, summary.index, extremes, summary.names)
    ).all()
    for i, row in enumerate(argmins):
        for s in range(n_series):
            if summary.s_count[s][i]:
                summary.lo_step[s][i], summary.hi_step[s][i] = int(row[1 + 2 * s]), int(row[2 + 2 * s])
    rows = _rows_at(session, job_id, sorted(wanted))
    for i in range(len(summary.index)):
        summary.first_ts[i] = float(rows[summary.first_step[i]][1])
        summary.last_ts[i] = float(rows[summary.last_step[i]][1])
    _series_edges(session, job_id, summary, after_step)
    return summary


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


def _series_edges(
    session: Session, job_id: uuid.UUID, summary: BucketSummary, after_step: int | None
) -> None:
    width = summary.width
    for s, name in enumerate(summary.names):
        present = [i for i, count in enumerate(summary.s_count[s]) if count]
        if not present:
            continue
        low = summary.index[present[0]] * width
        if after_step is not None:
            low = max(low, after_step + 1)
        high = summary.index[present[-1]] * width
        first = _edge_point(session, job_id, name, low, low + width - 1, last=False)
        last = _edge_point(session, job_id, name, high, min(high + width - 1, summary.upto_step), last=True)
        if first is not None and last is not None:
            summary.first[name] = first
            summary.last[name] = last
