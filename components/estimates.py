"""Time-to-finish and projected cost from the recent step rate.

The rate comes from the most recent intervals only (the early steps include warm-up and data
loading), and one stalled interval (checkpoint upload, eval pass, a preemption) must not send
the ETA to days: intervals more than ``STALL_FACTOR`` x slower than the median are dropped
before the rate is taken as total steps over total seconds of what remains.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise
from statistics import median

RECENT_INTERVALS = 20
MIN_INTERVALS = 3  # with fewer, a single stall cannot be told from the true rate
STALL_FACTOR = 5.0
_SECONDS_PER_HOUR = Decimal(3600)
_MONEY_SCALE = Decimal("0.0001")  # the database's Numeric(14, 4)


def seconds_per_step(steps: Sequence[int], elapsed_seconds: Sequence[float]) -> float | None:
    """Recent seconds per step, robust to a stall; None with fewer than 3 usable intervals."""
    pairs = list(zip(steps, elapsed_seconds, strict=True))[-(RECENT_INTERVALS + 1) :]
    intervals = [(s1 - s0, t1 - t0) for (s0, t0), (s1, t1) in pairwise(pairs) if s1 > s0 and t1 >= t0]
    if len(intervals) < MIN_INTERVALS:
        return None
    typical = median(dt / ds for ds, dt in intervals)
    # typical == 0 happens when several steps were stored with one poll's timestamp: keep all.
    kept = [(ds, dt) for ds, dt in intervals if typical <= 0 or dt / ds <= STALL_FACTOR * typical]
    total_seconds = sum(dt for _, dt in kept)
    if total_seconds <= 0:
        return None
    return total_seconds / sum(ds for ds, _ in kept)


def eta_seconds(
    steps: list[int], elapsed_seconds: list[float], current_step: int, total_steps: int
) -> float | None:
    """Seconds until ``total_steps`` at the recent rate; 0 when done, None when unknown.

    ``steps``/``elapsed_seconds`` are the ``elapsed`` columns of the metrics payload (ascending).
    """
    if total_steps <= 0:
        return None
    remaining = total_steps - current_step
    if remaining <= 0:
        return 0.0
    rate = seconds_per_step(steps, elapsed_seconds)
    return None if rate is None else remaining * rate


def projected_final_cost(
    current_cost: Decimal, elapsed_seconds: float, eta_seconds: float, hourly_rate: Decimal
) -> Decimal:
    """Cost at completion: what has been spent plus ``hourly_rate`` for the remaining time.

    Spent is ``max(current_cost, hourly_rate x elapsed)``: the stored cost is accrued by the
    worker's cycle and lags the clock by up to one cycle, while billing runs from ``started_at``
    (DESIGN §8). Seconds are floats by nature and enter the Decimal arithmetic via ``str``;
    the result is quantised to the database's 4 decimal places.
    """
    clock_cost = hourly_rate * Decimal(str(max(elapsed_seconds, 0.0))) / _SECONDS_PER_HOUR
    remaining = hourly_rate * Decimal(str(max(eta_seconds, 0.0))) / _SECONDS_PER_HOUR
    return (max(current_cost, clock_cost) + remaining).quantize(_MONEY_SCALE)
