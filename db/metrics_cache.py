"""The bucket summary of a job's sealed history, kept in Redis between requests.

Redis is a cache here (DESIGN.md §1): losing it costs one recomputation, never data. The summary
covers steps up to `last_step - SEAL_MARGIN`; newer points are read from the table on every
request, so a point that arrives a little out of order (a callback racing a poll) is still
counted. A point later than the margin is picked up when the entry expires (TTL).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from components.downsample import SERIES_NAMES
from db.metrics_buckets import Bucket, BucketSummary, SeriesBucket

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)
TTL_SECONDS = 900
SEAL_MARGIN = 256
_VERSION = 1


def _key(job_id: uuid.UUID, max_points: int) -> str:
    return f"pipeline:metrics-summary:v{_VERSION}:{job_id}:{max_points}"


def _point(value: Any) -> tuple[Any, float] | None:
    return None if value is None else (int(value[0]), float(value[1]))


def dumps(summary: BucketSummary) -> str:
    buckets = {
        str(index): [
            bucket.count,
            bucket.first,
            bucket.last,
            [[s.count, s.low, s.high] for s in (bucket.series[name] for name in SERIES_NAMES)],
        ]
        for index, bucket in summary.buckets.items()
    }
    return json.dumps(
        {
            "width": summary.width,
            "upto": summary.upto_step,
            "total": summary.total,
            "buckets": buckets,
            "first": summary.first,
            "last": summary.last,
        },
        separators=(",", ":"),
    )


def loads(raw: str | bytes) -> BucketSummary:
    data = json.loads(raw)
    summary = BucketSummary(width=int(data["width"]), upto_step=int(data["upto"]), total=int(data["total"]))
    for index, (count, first, last, series) in data["buckets"].items():
        bucket = Bucket(count=count, first=_point(first), last=_point(last))
        for name, (s_count, low, high) in zip(SERIES_NAMES, series, strict=True):
            bucket.series[name] = SeriesBucket(count=s_count, low=_point(low), high=_point(high))
        summary.buckets[int(index)] = bucket
    summary.first = {name: p for name, value in data["first"].items() if (p := _point(value))}
    summary.last = {name: p for name, value in data["last"].items() if (p := _point(value))}
    return summary


def load(cache: Redis | None, job_id: uuid.UUID, max_points: int) -> BucketSummary | None:
    if cache is None:
        return None
    try:
        raw = cache.get(_key(job_id, max_points))
    except Exception as exc:  # any Redis failure means "no cache", never a failed request
        log.warning("metrics summary cache unavailable: %s", exc)
        return None
    if raw is None:
        return None
    try:
        return loads(raw)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("discarding unreadable metrics summary for %s: %s", job_id, exc)
        return None


def save(cache: Redis | None, job_id: uuid.UUID, max_points: int, summary: BucketSummary) -> None:
    if cache is None:
        return
    try:
        cache.set(_key(job_id, max_points), dumps(summary), ex=TTL_SECONDS)
    except Exception as exc:
        log.warning("metrics summary cache unavailable: %s", exc)
