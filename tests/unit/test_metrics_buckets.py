"""The bucket summary: folding in any number of increments equals one pass, within budget, extremes kept."""

from __future__ import annotations

import itertools
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from services.downsample import series_names
from services.metrics_buckets import BucketSummary, bucket_width, fold_rows, summary_buckets, summary_payload


def _rows(n: int, seed: int = 3, start: int = 1) -> list[tuple[object, ...]]:
    rng = random.Random(seed)
    rows: list[tuple[object, ...]] = []
    for step in range(start, start + n):
        values: list[float | None] = [rng.choice([0.5, 1.0, rng.random()]) for _ in series_names()]
        values[1] = values[1] if step % 7 == 0 else None  # a sparse series
        rows.append((step, 1000.0 + step * 0.5, *values))
    return rows


def _fold_in(parts: list[list[tuple[object, ...]]], budget: int) -> BucketSummary:
    summary = BucketSummary(width=1, upto_step=0)
    for part in parts:
        fold_rows(summary, part, summary_buckets(budget))
    return summary


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=5),
    budget=st.integers(min_value=4, max_value=300),
)
def test_increments_equal_one_pass(n: int, cuts: list[int], budget: int) -> None:
    rows = _rows(n)
    bounds = sorted({0, n, *(c % (n + 1) for c in cuts)})
    parts = [rows[a:b] for a, b in itertools.pairwise(bounds)]
    once = summary_payload(_fold_in([rows], budget), budget, None)
    assert summary_payload(_fold_in(parts, budget), budget, None) == once


def test_payload_within_budget_keeps_first_last_min_max() -> None:
    rows = _rows(20_000)
    rows[777] = (778, rows[777][1], -5.0, *rows[777][3:])
    budget = 100
    payload = summary_payload(_fold_in([rows], budget), budget, started_at=1000.0)
    loss = payload["series"]["training_loss"]
    assert len(loss["step"]) <= budget
    assert (loss["step"][0], loss["step"][-1]) == (1, 20_000)
    assert (778, -5.0) in zip(loss["step"], loss["value"], strict=True)
    assert max(loss["value"]) == max(r[2] for r in rows)  # type: ignore[type-var]
    sparse = payload["series"]["validation_loss"]
    assert sparse["step"][-1] == 19_999  # the last multiple of 7
    assert payload["total_points"] == 20_000
    assert payload["downsampled"] is True
    elapsed = payload["elapsed"]
    assert elapsed["seconds"] == sorted(elapsed["seconds"])
    assert len(elapsed["step"]) <= budget


def test_point_count_does_not_depend_on_history_length() -> None:
    counts = []
    for n in (10_000, 37_000, 100_000):
        payload = summary_payload(_fold_in([_rows(n)], 1000), 1000, None)
        counts.append(len(payload["series"]["training_loss"]["step"]))
    assert all(990 <= count <= 1000 for count in counts), counts


def test_bucket_width_is_the_smallest_power_of_two_that_fits() -> None:
    assert bucket_width(0, 9, 10) == 1
    assert bucket_width(0, 10, 10) == 2
    assert bucket_width(1, 1_000_000, 499) == 2048  # 489 buckets
    width = bucket_width(123, 456_789, 49)
    assert 456_789 // width - 123 // width + 1 <= 49
    assert math.log2(width).is_integer()


def test_elapsed_time_never_goes_back_and_starts_at_zero_under_clock_skew() -> None:
    """The cluster's clock may stamp a point before the job's start or before an earlier point."""
    stamps = [995.0, 1010.0, 1030.0, 1020.0, 1040.0]  # epoch seconds; the job started at 1000
    rows: list[tuple[object, ...]] = [
        (step, stamp, 1.0 / step, None, None, None, None, None) for step, stamp in enumerate(stamps, 1)
    ]
    payload = summary_payload(_fold_in([rows], 100), 100, started_at=1000.0)
    assert payload["elapsed"] == {"step": [1, 2, 3, 4, 5], "seconds": [0.0, 10.0, 30.0, 30.0, 40.0]}


def test_a_tie_for_a_buckets_minimum_or_maximum_keeps_the_earliest_step() -> None:
    """As the SQL summary does (services/metrics_sql.py), so both give the same points."""
    losses = [3.0, 1.0, 2.0, 1.0, 3.0, 2.0]  # minimum 1.0 at steps 2 and 4, maximum 3.0 at 1 and 5
    rows: list[tuple[object, ...]] = [
        (step, 1000.0 + step, loss, None, None, None, None, None) for step, loss in enumerate(losses, 1)
    ]
    summary = BucketSummary(width=8, upto_step=0)
    for row in rows:
        summary.add_row(row)
    assert (summary.lo_step[0], summary.lo_val[0]) == ([2], [1.0])
    assert (summary.hi_step[0], summary.hi_val[0]) == ([1], [3.0])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=2000),
    gap=st.integers(min_value=2, max_value=50),
    fine=st.sampled_from([1, 4, 8]),
    factor=st.sampled_from([2, 4, 8, 64]),
)
def test_widening_equals_summing_at_the_wider_width(n: int, gap: int, fine: int, factor: int) -> None:
    rows = [row for step, row in enumerate(_rows(n), start=1) if step % gap]  # missing steps: empty buckets
    widened, direct = BucketSummary(width=fine, upto_step=0), BucketSummary(width=fine * factor, upto_step=0)
    for row in rows:
        widened.add_row(row)
        direct.add_row(row)
    # grouped as if widened (what a cold read does with a finer stored width): the same payload
    assert summary_payload(widened, 50, None, width=fine * factor) == summary_payload(direct, 50, None)
    widened.widen(fine * factor)
    for column in ("index", "count", "first_step", "last_step", "s_count", "lo_step", "hi_step"):
        assert getattr(widened, column) == getattr(direct, column), column
    assert summary_payload(widened, 50, None) == summary_payload(direct, 50, None)
