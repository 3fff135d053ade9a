"""A job's chart history from its rollups (db/metric_rollups.py): O(buckets), never a scan of points.

The coarsest width gives the job's step range and point count in a few rows; then the coarsest
width that still has enough buckets is read and merged in Python to the width the budget needs
(`BucketSummary.widen`, exact for powers of two). Each series' own first and last point come from
the points table when it still holds them, by bounded index probes (docs/architecture.md §8).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, literal, select, union_all
from sqlalchemy.orm import Session

from db.metric_rollups import WIDTHS, series_columns
from db.models import MetricPoint, MetricRollup
from services.metrics_buckets import NAN, BucketSummary, bucket_width

_ROLLUPS = MetricRollup.__table__.c
_POINTS = MetricPoint.__table__.c


def _level_query(job_id: uuid.UUID, width: int, names: tuple[str, ...]) -> Select[Any]:
    series = [_ROLLUPS[c] for name in names for c in series_columns(name)]
    return (
        select(
            _ROLLUPS.bucket,
            _ROLLUPS.n,
            _ROLLUPS.first_step,
            _ROLLUPS.first_ts,
            _ROLLUPS.last_step,
            _ROLLUPS.last_ts,
            *series,
        )
        .where(_ROLLUPS.job_id == job_id, _ROLLUPS.width == width)
        .order_by(_ROLLUPS.bucket)
    )


def _level(session: Session, job_id: uuid.UUID, width: int) -> BucketSummary:
    """The job's buckets at one stored width, column by column (one list per column, no per-row work)."""
    summary = BucketSummary(width=width, upto_step=-1)
    rows = session.execute(_level_query(job_id, width, summary.names)).all()
    if not rows:
        return summary
    columns = list(zip(*rows, strict=True))
    summary.index, summary.count = list(columns[0]), list(columns[1])
    summary.first_step, summary.first_ts = list(columns[2]), list(columns[3])
    summary.last_step, summary.last_ts = list(columns[4]), list(columns[5])
    summary.total = sum(summary.count)
    summary.upto_step = summary.last_step[-1]
    for s in range(len(summary.names)):
        count, low, low_step, high, high_step = columns[6 + 5 * s : 11 + 5 * s]
        summary.s_count[s] = list(count)
        summary.lo_val[s] = [NAN if v is None else v for v in low]
        summary.lo_step[s] = [-1 if v is None else v for v in low_step]
        summary.hi_val[s] = [NAN if v is None else v for v in high]
        summary.hi_step[s] = [-1 if v is None else v for v in high_step]
    return summary


def history_outline(session: Session, job_id: uuid.UUID) -> BucketSummary:
    """The job's rollups at the coarsest width: its step range and point count in a few rows."""
    return _level(session, job_id, WIDTHS[-1])


def rollup_summary(
    session: Session, job_id: uuid.UUID, outline: BucketSummary, n_buckets: int
) -> BucketSummary:
    """The job's whole history in at most `n_buckets` buckets, from the coarsest width that has
    enough of them (`outline` is `history_outline`, already read), with each series' edges."""
    target = bucket_width(outline.first_step[0], outline.upto_step, n_buckets)
    width = max([w for w in WIDTHS if w <= target], default=WIDTHS[0])
    summary = outline if width == outline.width else _level(session, job_id, width)
    summary.widen(target)
    _series_edges(session, job_id, summary)
    return summary


def _edge_query(
    probe: int, job_id: uuid.UUID, name: str, span: tuple[int, int], *, last: bool
) -> Select[Any]:
    value = _POINTS[name]
    inner = (
        select(_POINTS.step, value.label("value"))
        .where(_POINTS.job_id == job_id, _POINTS.step.between(*span), value.is_not(None))
        .order_by(_POINTS.step.desc() if last else _POINTS.step)
        .limit(1)
        .subquery()
    )
    return select(literal(probe).label("probe"), inner.c.step, inner.c.value)


def _series_edges(session: Session, job_id: uuid.UUID, summary: BucketSummary) -> None:
    """Each series' first and last point, read from the points of its first and last bucket (at
    most `width` rows each, one statement). Where those points were dropped (retention), the
    earliest extreme of its first bucket and the latest of its last stand in."""
    probes: list[tuple[str, bool]] = []
    queries: list[Select[Any]] = []
    for s, name in enumerate(summary.names):
        present = [i for i, count in enumerate(summary.s_count[s]) if count]
        if not present:
            continue
        first, last = present[0], present[-1]
        summary.first[name] = min(
            (summary.lo_step[s][first], summary.lo_val[s][first]),
            (summary.hi_step[s][first], summary.hi_val[s][first]),
        )
        summary.last[name] = max(
            (summary.lo_step[s][last], summary.lo_val[s][last]),
            (summary.hi_step[s][last], summary.hi_val[s][last]),
        )
        for bucket, is_last in ((first, False), (last, True)):
            span = (summary.first_step[bucket], summary.last_step[bucket])
            queries.append(_edge_query(len(probes), job_id, name, span, last=is_last))
            probes.append((name, is_last))
    if not queries:
        return
    for probe, step, value in session.execute(union_all(*queries) if len(queries) > 1 else queries[0]):
        name, is_last = probes[probe]
        (summary.last if is_last else summary.first)[name] = (int(step), float(value))
