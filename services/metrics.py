"""Reading a job's metrics: the downsampled series for charts and the API (from rollups), the
`since_step` increment for live pages and the full CSV export (from the points; docs/architecture.md §8).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.models import MetricPoint, TrainingJob
from services import metrics_cache, metrics_sql
from services.downsample import MetricsPayload, build_metrics_payload, empty_metrics_payload, series_names
from services.metrics_buckets import bucket_width, summary_buckets, summary_payload
from services.metrics_rollups import history_outline, rollup_summary

if TYPE_CHECKING:
    from redis import Redis

DEFAULT_MAX_POINTS = 1000
MIN_MAX_POINTS = 4
MAX_MAX_POINTS = 10_000
CSV_BATCH_ROWS = 5000
RAW_INCREMENT_STEPS = 20_000  # beyond this many steps behind, `since_step` is bucketed in SQL


def csv_columns() -> tuple[str, ...]:
    """The header of the CSV export: the point's step, time and epoch, then every API series."""
    return ("step", "timestamp", "epoch", *series_names())


def _series_columns() -> list[Any]:
    return [getattr(MetricPoint, name) for name in series_names()]


def load_metric_rows(
    session: Session, job_id: uuid.UUID, *, since_step: int | None = None, limit: int | None = None
) -> list[tuple[Any, ...]]:
    """Rows `(step, epoch_seconds, *series_names())` ordered by step, optionally only after
    `since_step`, at most `limit`."""
    query = (
        select(MetricPoint.step, MetricPoint.timestamp, *_series_columns())
        .where(MetricPoint.job_id == job_id)
        .order_by(MetricPoint.step)
    )
    if since_step is not None:
        query = query.where(MetricPoint.step > since_step)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    return [(row[0], row[1].timestamp() if row[1] is not None else None, *row[2:]) for row in rows]


def clamp_max_points(max_points: int | None) -> int:
    if max_points is None:
        return DEFAULT_MAX_POINTS
    return max(MIN_MAX_POINTS, min(int(max_points), MAX_MAX_POINTS))


def metrics_payload(
    session: Session,
    job: TrainingJob,
    *,
    max_points: int | None = DEFAULT_MAX_POINTS,
    since_step: int | None = None,
    cache: Redis | None = None,
) -> MetricsPayload:
    """The job's series, each at most `max_points` points, keeping spikes, minima and the latest point.

    The history comes from the job's rollups (services/metrics_rollups.py; the finished payload
    cached in `cache` when given), or, when it fits the budget, from its points as stored (when
    they are all still there). With `since_step`, only
    points with step > since_step (for a page that already holds the rest), read from the points;
    consecutive calls passing the previous `last_step` see every point once, no gap and no
    duplicate. `last_step` is None when there is nothing new. The caller has checked ownership.
    """
    budget = clamp_max_points(max_points)
    started = job.started_at.timestamp() if job.started_at is not None else None
    if since_step is not None:
        return _increment(session, job.id, since_step, budget, started)
    outline = history_outline(session, job.id)
    if not outline.index:
        return empty_metrics_payload()
    if outline.upto_step - outline.first_step[0] + 1 <= budget:
        rows = load_metric_rows(session, job.id)
        if len(rows) == outline.total:  # else some points were dropped (retention): rollups only
            return build_metrics_payload(rows, budget, started)
    key = metrics_cache.payload_key(
        job.id, budget, outline.first_step[0], outline.upto_step, outline.total, started
    )
    cached: MetricsPayload | None = metrics_cache.get_payload(cache, key)
    if cached is not None:
        return cached
    summary, width = rollup_summary(session, job.id, outline, summary_buckets(budget))
    payload = summary_payload(summary, budget, started, width=width)
    metrics_cache.put_payload(cache, key, payload)
    return payload


def _increment(
    session: Session, job_id: uuid.UUID, since_step: int, budget: int, started: float | None
) -> MetricsPayload:
    """Points after `since_step`. The usual case (a live page's few newest points) is one index
    range scan; a far-behind cursor (`since_step=0` on a million points) is bucketed in SQL on
    PostgreSQL instead of loading every row into Python."""
    postgres = session.get_bind().dialect.name == "postgresql"
    limit = RAW_INCREMENT_STEPS + 1 if postgres else None
    rows = load_metric_rows(session, job_id, since_step=since_step, limit=limit)
    if not rows:
        return empty_metrics_payload()
    if limit is None or len(rows) < limit:
        return build_metrics_payload(rows, budget, started)
    last_step = history_outline(session, job_id).upto_step
    width = bucket_width(since_step + 1, last_step, summary_buckets(budget))
    summary = metrics_sql.summarize(session, job_id, width, last_step, after_step=since_step)
    return summary_payload(summary, budget, started)


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def iter_metrics_csv(engine: Engine, job_id: uuid.UUID, *, batch_rows: int = CSV_BATCH_ROWS) -> Iterator[str]:
    """Every stored point as CSV text chunks, in step order, read with a server-side cursor.

    Opens its own connection because a streamed HTTP response outlives the request's session.
    """
    columns = (MetricPoint.step, MetricPoint.timestamp, MetricPoint.epoch, *_series_columns())
    query = select(*columns).where(MetricPoint.job_id == job_id).order_by(MetricPoint.step)
    yield _csv_line(csv_columns())
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=batch_rows).execute(query)
        for partition in result.partitions():
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            for row in partition:
                stamp = row[1].isoformat() if row[1] is not None else ""
                writer.writerow((row[0], stamp, *("" if v is None else repr(v) for v in row[2:])))
            yield buffer.getvalue()
