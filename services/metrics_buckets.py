"""Step-aligned min/max buckets: the mergeable summary behind the downsampled metrics payload.

Power-of-two widths make merging neighbours and folding in new points exact, so a cached summary
that absorbs only a running job's newest points equals one computed from scratch. Pure Python, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from services.downsample import MetricsPayload, round_all_significant, series_names

Point = tuple[int, float]  # (step, value)
NAN = math.nan


@dataclass
class BucketSummary:
    """Everything needed to draw a job's history. Per bucket (parallel lists, ascending index):
    row count, first/last row (step, epoch seconds; NaN seconds when unknown), and per series its
    count and the (step, value) of its minimum and maximum (step -1 and NaN when it has none).
    `names` are its series, in row order (the catalogue's, when the summary was made)."""

    width: int
    upto_step: int  # every stored point with step <= upto_step is folded in
    total: int = 0
    names: tuple[str, ...] = field(default_factory=series_names)
    index: list[int] = field(default_factory=list)
    count: list[int] = field(default_factory=list)
    first_step: list[int] = field(default_factory=list)
    first_ts: list[float] = field(default_factory=list)
    last_step: list[int] = field(default_factory=list)
    last_ts: list[float] = field(default_factory=list)
    s_count: list[list[int]] = field(default_factory=list)
    lo_step: list[list[int]] = field(default_factory=list)
    lo_val: list[list[float]] = field(default_factory=list)
    hi_step: list[list[int]] = field(default_factory=list)
    hi_val: list[list[float]] = field(default_factory=list)
    first: dict[str, Point] = field(default_factory=dict)
    last: dict[str, Point] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for column in (self.s_count, self.lo_step, self.lo_val, self.hi_step, self.hi_val):
            if not column:
                column.extend([] for _ in self.names)

    def append_bucket(
        self, index: int, count: int, first: tuple[int, float], last: tuple[int, float]
    ) -> None:
        self.index.append(index)
        self.count.append(count)
        self.first_step.append(first[0])
        self.first_ts.append(first[1])
        self.last_step.append(last[0])
        self.last_ts.append(last[1])
        for s in range(len(self.names)):
            self.s_count[s].append(0)
            self.lo_step[s].append(-1)
            self.lo_val[s].append(NAN)
            self.hi_step[s].append(-1)
            self.hi_val[s].append(NAN)

    def add_row(self, row: Sequence[Any]) -> None:
        """Fold one `(step, epoch_seconds, *names)` row with step > upto_step (ascending order)."""
        step = int(row[0])
        stamp = NAN if row[1] is None else float(row[1])
        bucket = step // self.width
        if not self.index or bucket > self.index[-1]:
            self.append_bucket(bucket, 0, (step, stamp), (step, stamp))
        self.count[-1] += 1
        self.last_step[-1] = step
        self.last_ts[-1] = stamp
        self.total += 1
        for s, name in enumerate(self.names):
            value = row[2 + s]
            if value is None or not math.isfinite(value):
                continue
            value = float(value)
            if self.s_count[s][-1] == 0 or value < self.lo_val[s][-1]:
                self.lo_step[s][-1], self.lo_val[s][-1] = step, value
            if self.s_count[s][-1] == 0 or value > self.hi_val[s][-1]:
                self.hi_step[s][-1], self.hi_val[s][-1] = step, value
            self.s_count[s][-1] += 1
            self.first.setdefault(name, (step, value))
            self.last[name] = (step, value)
        self.upto_step = max(self.upto_step, step)

    def widen(self, width: int) -> None:
        """Re-bucket at a larger power-of-two width by merging neighbours (exact), column by column."""
        if width <= self.width:
            return
        keys = [index * self.width // width for index in self.index]
        runs = _runs(keys)
        heads = [start for start, _ in runs]
        tails = [stop - 1 for _, stop in runs]
        self.width = width
        self.index = [keys[i] for i in heads]
        self.count = [sum(self.count[start:stop]) for start, stop in runs]
        self.first_step, self.first_ts = (
            [self.first_step[i] for i in heads],
            [self.first_ts[i] for i in heads],
        )
        self.last_step, self.last_ts = [self.last_step[i] for i in tails], [self.last_ts[i] for i in tails]
        for s in range(len(self.names)):
            self._widen_series(s, runs)

    def _widen_series(self, s: int, runs: list[tuple[int, int]]) -> None:
        """One series' buckets merged per run: counts add, the earliest minimum and maximum win."""
        counts, lo_val, hi_val = self.s_count[s], self.lo_val[s], self.hi_val[s]
        lo_step, hi_step = self.lo_step[s], self.hi_step[s]
        merged: tuple[list[Any], ...] = ([], [], [], [], [])
        m_count, m_lo_step, m_lo_val, m_hi_step, m_hi_val = merged
        for start, stop in runs:
            total = 0
            low = high = -1
            for i in range(start, stop):  # strict comparisons in step order: the earliest step wins ties
                if counts[i]:
                    total += counts[i]
                    if low < 0 or lo_val[i] < lo_val[low]:
                        low = i
                    if high < 0 or hi_val[i] > hi_val[high]:
                        high = i
            m_count.append(total)
            m_lo_step.append(lo_step[low] if total else -1)
            m_lo_val.append(lo_val[low] if total else NAN)
            m_hi_step.append(hi_step[high] if total else -1)
            m_hi_val.append(hi_val[high] if total else NAN)
        self.s_count[s], self.lo_step[s], self.lo_val[s], self.hi_step[s], self.hi_val[s] = merged


def _runs(keys: list[int]) -> list[tuple[int, int]]:
    """`[start, stop)` of each run of equal consecutive keys."""
    starts = [0, *(i for i in range(1, len(keys)) if keys[i] != keys[i - 1])] if keys else []
    return list(zip(starts, [*starts[1:], len(keys)], strict=True))


def bucket_width(first_step: int, last_step: int, n_buckets: int) -> int:
    """Smallest power of two whose aligned buckets over [first, last] number at most `n_buckets`."""
    width = 1
    while last_step // width - first_step // width + 1 > n_buckets:
        width *= 2
    return width


def buckets_for_budget(max_points: int) -> int:
    """Each bucket contributes min and max; two more slots keep each series' first and last point."""
    return max(1, (max_points - 2) // 2)


def summary_buckets(max_points: int) -> int:
    """How many buckets a summary keeps: twice what the payload shows, so that regrouping them into
    exactly `buckets_for_budget` groups gives every job (10k or 1M points) the same point count;
    power-of-two widths alone would swing between half and all of the budget."""
    return 2 * buckets_for_budget(max_points)


def _group_bounds(n: int, n_groups: int) -> list[tuple[int, int]]:
    if n <= n_groups:
        return [(i, i + 1) for i in range(n)]
    return [(g * n // n_groups, (g + 1) * n // n_groups) for g in range(n_groups)]


def _series_points(summary: BucketSummary, bounds: list[tuple[int, int]], s: int) -> list[Point]:
    counts, lo_val, hi_val = summary.s_count[s], summary.lo_val[s], summary.hi_val[s]
    lo_step, hi_step = summary.lo_step[s], summary.hi_step[s]
    points: dict[int, float] = {}
    for start, stop in bounds:
        low = high = -1
        for i in range(start, stop):  # strict comparisons in step order: the earliest step wins ties
            if counts[i] == 0:
                continue
            if low < 0 or lo_val[i] < lo_val[low]:
                low = i
            if high < 0 or hi_val[i] > hi_val[high]:
                high = i
        if low >= 0:
            points[lo_step[low]] = lo_val[low]
            points[hi_step[high]] = hi_val[high]
    name = summary.names[s]
    for point in (summary.first.get(name), summary.last.get(name)):
        if point is not None:
            points[point[0]] = point[1]
    return sorted(points.items())


def _elapsed(
    summary: BucketSummary, bounds: list[tuple[int, int]], started_at: float | None
) -> tuple[list[int], list[float]]:
    first_ts, last_ts = summary.first_ts, summary.last_ts
    stamps: dict[int, float] = {}
    for start, stop in bounds:
        head = next((i for i in range(start, stop) if first_ts[i] == first_ts[i]), -1)  # not NaN
        tail = next((i for i in range(stop - 1, start - 1, -1) if last_ts[i] == last_ts[i]), -1)
        if head >= 0:
            stamps[summary.first_step[head]] = first_ts[head]
        if tail >= 0:
            stamps[summary.last_step[tail]] = last_ts[tail]
    ordered = sorted(stamps.items())
    if not ordered:
        return [], []
    origin = ordered[0][1] if started_at is None else started_at
    running = accumulate((stamp - origin for _, stamp in ordered), max, initial=0.0)
    next(running)  # drop the 0.0 seed: it only clamps the series at zero (clock skew)
    return [step for step, _ in ordered], round_all_significant(list(running))


def _widened_bounds(summary: BucketSummary, width: int, n_groups: int) -> list[tuple[int, int]]:
    """`_group_bounds` of the summary as if widened to `width` first, as ranges of its own buckets:
    grouping the merged buckets or the buckets they merge picks the same extremes (the earliest
    minimum of a group of groups is the group's earliest minimum), so the merge is skipped."""
    if width <= summary.width:
        return _group_bounds(len(summary.index), n_groups)
    runs = _runs([index * summary.width // width for index in summary.index])
    return [(runs[start][0], runs[stop - 1][1]) for start, stop in _group_bounds(len(runs), n_groups)]


def summary_payload(
    summary: BucketSummary, max_points: int, started_at: float | None, *, width: int = 0
) -> MetricsPayload:
    """The API's MetricsPayload: buckets regrouped (exactly, by consecutive runs) into
    `buckets_for_budget(max_points)` groups; each series ≤ 2·groups + 2 ≤ max_points points. With
    a `width` above the summary's, the same payload as `summary.widen(width)` first would give."""
    bounds = _widened_bounds(summary, width, buckets_for_budget(max_points))
    series = {}
    downsampled = False
    for s, name in enumerate(summary.names):
        points = _series_points(summary, bounds, s)
        downsampled |= sum(summary.s_count[s]) > len(points)
        series[name] = {
            "step": [p[0] for p in points],
            "value": round_all_significant([p[1] for p in points]),
        }
    steps, seconds = _elapsed(summary, bounds, started_at)
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
    if summary.index:
        summary.widen(bucket_width(summary.index[0] * summary.width, summary.upto_step, n_buckets))
