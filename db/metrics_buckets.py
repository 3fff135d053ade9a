"""Step-aligned min/max buckets: the mergeable summary behind the downsampled metrics payload.

Buckets are `step // width` with `width` a power of two, so doubling the width merges neighbour
pairs exactly, and folding new points into a bucket is exact too (min/max/first/last/count are
associative). That is what lets a cached summary absorb only the newest points of a running job
and still equal the summary computed from scratch (tested). Ties keep the earliest step.

Pure Python, no I/O: `db.metrics_sql` fills a summary from PostgreSQL, `db.metrics_cache` keeps it
in Redis.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.downsample import SERIES_NAMES, MetricsPayload, round_significant

Point = tuple[int, float]  # (step, value)


@dataclass
class SeriesBucket:
    count: int = 0
    low: Point | None = None  # (step, value) of the minimum, earliest on ties
    high: Point | None = None

    def add(self, step: int, value: float) -> None:
        self.count += 1
        if self.low is None or value < self.low[1]:
            self.low = (step, value)
        if self.high is None or value > self.high[1]:
            self.high = (step, value)

    def absorb(self, later: SeriesBucket) -> None:
        """Merge a bucket covering later steps (ties keep ours: the earlier step)."""
        self.count += later.count
        if later.low is not None and (self.low is None or later.low[1] < self.low[1]):
            self.low = later.low
        if later.high is not None and (self.high is None or later.high[1] > self.high[1]):
            self.high = later.high


@dataclass
class Bucket:
    count: int = 0
    first: tuple[int, float] | None = None  # (step, epoch seconds) of the earliest row
    last: tuple[int, float] | None = None
    series: dict[str, SeriesBucket] = field(default_factory=lambda: {n: SeriesBucket() for n in SERIES_NAMES})

    def absorb(self, later: Bucket) -> None:
        self.count += later.count
        if self.first is None:
            self.first = later.first
        if later.last is not None:
            self.last = later.last
        for name in SERIES_NAMES:
            self.series[name].absorb(later.series[name])


@dataclass
class BucketSummary:
    """Everything needed to draw a job's history: buckets plus each series' first and last point."""

    width: int
    upto_step: int  # every stored point with step <= upto_step is folded in
    total: int = 0
    buckets: dict[int, Bucket] = field(default_factory=dict)
    first: dict[str, Point] = field(default_factory=dict)
    last: dict[str, Point] = field(default_factory=dict)

    def add_row(self, row: Sequence[Any]) -> None:
        """Fold one `(step, epoch_seconds, *SERIES_NAMES)` row with step > upto_step (ascending order)."""
        step = int(row[0])
        bucket = self.buckets.setdefault(step // self.width, Bucket())
        bucket.count += 1
        self.total += 1
        if row[1] is not None:
            if bucket.first is None:
                bucket.first = (step, float(row[1]))
            bucket.last = (step, float(row[1]))
        for offset, name in enumerate(SERIES_NAMES):
            value = row[2 + offset]
            if value is None or not math.isfinite(value):
                continue
            bucket.series[name].add(step, float(value))
            self.first.setdefault(name, (step, float(value)))
            self.last[name] = (step, float(value))
        self.upto_step = max(self.upto_step, step)

    def widen(self, width: int) -> None:
        """Re-bucket at a larger power-of-two width by merging neighbours (exact)."""
        if width <= self.width:
            return
        merged: dict[int, Bucket] = {}
        for index in sorted(self.buckets):
            target = merged.get(index * self.width // width)
            if target is None:
                merged[index * self.width // width] = self.buckets[index]
            else:
                target.absorb(self.buckets[index])
        self.buckets = merged
        self.width = width


def bucket_width(first_step: int, last_step: int, n_buckets: int) -> int:
    """Smallest power of two whose aligned buckets over [first, last] number at most `n_buckets`."""
    width = 1
    while last_step // width - first_step // width + 1 > n_buckets:
        width *= 2
    return width


def buckets_for_budget(max_points: int) -> int:
    """Each bucket contributes min and max; two more slots keep each series' first and last point."""
    return max(1, (max_points - 2) // 2)


def _series_points(summary: BucketSummary, name: str) -> list[Point]:
    points: dict[int, float] = {}
    for index in sorted(summary.buckets):
        bucket = summary.buckets[index].series[name]
        for point in (bucket.low, bucket.high):
            if point is not None:
                points[point[0]] = point[1]
    for point in (summary.first.get(name), summary.last.get(name)):
        if point is not None:
            points[point[0]] = point[1]
    return sorted(points.items())


def _elapsed(summary: BucketSummary, started_at: float | None) -> tuple[list[int], list[float]]:
    stamps: dict[int, float] = {}
    for index in sorted(summary.buckets):
        bucket = summary.buckets[index]
        for point in (bucket.first, bucket.last):
            if point is not None:
                stamps[point[0]] = point[1]
    ordered = sorted(stamps.items())
    if not ordered:
        return [], []
    origin = ordered[0][1] if started_at is None else started_at
    seconds: list[float] = []
    running = 0.0
    for _, stamp in ordered:
        running = max(running, stamp - origin)  # clock skew must not make elapsed time go back
        seconds.append(round_significant(running))
    return [step for step, _ in ordered], seconds


def summary_payload(summary: BucketSummary, max_points: int, started_at: float | None) -> MetricsPayload:
    """The API's MetricsPayload from a summary (each series ≤ 2·buckets + 2 ≤ max_points points)."""
    series = {}
    downsampled = False
    for name in SERIES_NAMES:
        points = _series_points(summary, name)
        count = sum(bucket.series[name].count for bucket in summary.buckets.values())
        downsampled |= count > len(points)
        series[name] = {"step": [s for s, _ in points], "value": [round_significant(v) for _, v in points]}
    steps, seconds = _elapsed(summary, started_at)
    return {
        "total_points": summary.total,
        "last_step": summary.upto_step if summary.total else None,
        "downsampled": downsampled,
        "series": series,  # type: ignore[typeddict-item]
        "elapsed": {"step": steps, "seconds": seconds},
    }


def fold_rows(summary: BucketSummary, rows: Iterable[Sequence[Any]], n_buckets: int) -> None:
    """Fold ascending rows newer than the summary, widening buckets as the step range grows."""
    for row in rows:
        summary.add_row(row)
    if summary.buckets:
        first = min(summary.buckets) * summary.width
        summary.widen(bucket_width(first, summary.upto_step, n_buckets))
