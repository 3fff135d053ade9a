"""A job's chart history from its rollups (db/metric_rollups.py): O(buckets), never a scan of points.

The coarsest width gives the job's step range and point count in a few rows; then the coarsest
width that still has enough buckets is read and grouped to the width the budget needs (exact for
powers of two: `summary_payload(..., width=)`). Each series' own first and last point come from
the points table when it still holds them, by bounded index probes (docs/architecture.md §8).
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy import CompoundSelect, Select, bindparam, literal, select, union_all
from sqlalchemy.orm import Session

from db.metric_rollups import WIDTHS, level_columns
from db.models import MetricPoint
from services.metrics_buckets import NAN, BucketSummary, bucket_width

_POINTS = MetricPoint.__table__.c


def _filled(column: tuple[Any, ...], empty: float) -> list[Any]:
    """The column with `empty` for a bucket where the series has no point (NULL in the row); a
    series present in every bucket (the usual case) is copied without a per-value test."""
    return list(column) if None not in column else [empty if v is None else v for v in column]


def _level(session: Session, job_id: uuid.UUID, width: int) -> BucketSummary:
    """The job's buckets at one stored width, column by column (one list per column, no per-row work)."""
    summary = BucketSummary(width=width, upto_step=-1)
    columns = level_columns(session, job_id, width, summary.names)
    if not columns:
        return summary
    summary.index, summary.count = list(columns[0]), list(columns[1])
    summary.first_step, summary.first_ts = list(columns[2]), list(columns[3])
    summary.last_step, summary.last_ts = list(columns[4]), list(columns[5])
    summary.total = sum(summary.count)
    summary.upto_step = summary.last_step[-1]
    for s in range(len(summary.names)):
        count, low, low_step, high, high_step = columns[6 + 5 * s : 11 + 5 * s]
        summary.s_count[s] = list(count)
        summary.lo_val[s], summary.hi_val[s] = _filled(low, NAN), _filled(high, NAN)
        summary.lo_step[s], summary.hi_step[s] = _filled(low_step, -1), _filled(high_step, -1)
    return summary


def history_outline(session: Session, job_id: uuid.UUID) -> BucketSummary:
    """The job's rollups at the coarsest width: its step range and point count in a few rows."""
    return _level(session, job_id, WIDTHS[-1])


def rollup_summary(
    session: Session, job_id: uuid.UUID, outline: BucketSummary, n_buckets: int
) -> tuple[BucketSummary, int]:
    """The job's whole history from the coarsest stored width that has enough buckets (`outline`
    is `history_outline`, already read), with each series' edges, and the width it is to be shown
    at (at most `n_buckets` buckets: `summary_payload(..., width=)` groups it so, without a copy)."""
    target = bucket_width(outline.first_step[0], outline.upto_step, n_buckets)
    width = max([w for w in WIDTHS if w <= target], default=WIDTHS[0])
    summary = outline if width == outline.width else _level(session, job_id, width)
    _series_edges(session, job_id, summary)
    return summary, target


@functools.cache
def _edges_statement(probes: tuple[tuple[str, bool], ...]) -> CompoundSelect[Any] | Select[Any]:
    """One statement for these (series, last?) probes, built once: a bounded index probe each, the
    job and each probe's step span bound per call (`job_id`, `lo_<i>`, `hi_<i>`)."""
    queries = []
    for probe, (name, last) in enumerate(probes):
        value = _POINTS[name]
        inner = (
            select(_POINTS.step, value.label("value"))
            .where(
                _POINTS.job_id == bindparam("job_id"),
                _POINTS.step.between(bindparam(f"lo_{probe}"), bindparam(f"hi_{probe}")),
                value.is_not(None),
            )
            .order_by(_POINTS.step.desc() if last else _POINTS.step)
            .limit(1)
            .subquery()
        )
        queries.append(select(literal(probe).label("probe"), inner.c.step, inner.c.value))
    return union_all(*queries) if len(queries) > 1 else queries[0]


def _series_edges(session: Session, job_id: uuid.UUID, summary: BucketSummary) -> None:
    """Each series' first and last point, read from the points of its first and last bucket (at
    most `width` rows each, one statement). Where those points were dropped (retention), the
    earliest extreme of its first bucket and the latest of its last stand in."""
    probes: list[tuple[str, bool]] = []
    params: dict[str, Any] = {"job_id": job_id}
    for s, name in enumerate(summary.names):
        counts = summary.s_count[s]
        first = next((i for i, count in enumerate(counts) if count), -1)
        if first < 0:
            continue
        last = next(i for i in range(len(counts) - 1, -1, -1) if counts[i])
        summary.first[name] = min(
            (summary.lo_step[s][first], summary.lo_val[s][first]),
            (summary.hi_step[s][first], summary.hi_val[s][first]),
        )
        summary.last[name] = max(
            (summary.lo_step[s][last], summary.lo_val[s][last]),
            (summary.hi_step[s][last], summary.hi_val[s][last]),
        )
        for bucket, is_last in ((first, False), (last, True)):
            params[f"lo_{len(probes)}"] = summary.first_step[bucket]
            params[f"hi_{len(probes)}"] = summary.last_step[bucket]
            probes.append((name, is_last))
    if not probes:
        return
    for probe, step, value in session.execute(_edges_statement(tuple(probes)), params):
        name, is_last = probes[probe]
        (summary.last if is_last else summary.first)[name] = (int(step), float(value))
