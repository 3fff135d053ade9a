"""GPU pricing and cost arithmetic, in Decimal from end to end (money is exact)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from catalog.gpus import MAX_GPU_COUNT, find_gpu_type, gpu_type_ids, valid_gpu_count

STORED = Decimal("0.0001")
_MICROSECONDS_PER_HOUR = Decimal(3_600_000_000)
_CENT = Decimal("0.01")


class PricingError(ValueError):
    """The GPU configuration cannot be priced; the message says why, for the user."""


def hourly_rate(gpu_type: object, count: object) -> Decimal:
    """Dollars per hour for `count` GPUs of `gpu_type` (prices from catalog/gpus.py).

    Raises:
        PricingError: unknown type, or a count that is not a whole number from 1 to MAX_GPU_COUNT.
    """
    gpu = find_gpu_type(gpu_type)
    if gpu is None:
        known = ", ".join(gpu_type_ids())
        raise PricingError(f"unknown GPU type {gpu_type!r}; choose one of {known}")
    if not valid_gpu_count(count):
        raise PricingError(f"GPU count must be a whole number from 1 to {MAX_GPU_COUNT}, got {count!r}")
    return gpu.hourly_price * count


def elapsed_hours(start: datetime, end: datetime) -> Decimal:
    """Exact hours between two instants (microsecond resolution), never negative."""
    microseconds = (end - start) // timedelta(microseconds=1)
    return max(Decimal(0), Decimal(microseconds) / _MICROSECONDS_PER_HOUR)


def compute_cost(rate_per_hour: Decimal, start: datetime, end: datetime) -> Decimal:
    """rate × elapsed, rounded half-up to the stored precision (1/100 of a cent)."""
    return (rate_per_hour * elapsed_hours(start, end)).quantize(STORED, rounding=ROUND_HALF_UP)


def cap_to_budget(cost: Decimal, budget_limit: Decimal | None) -> Decimal:
    """What may be billed for `cost`: never more than the job's budget (None means no limit).

    Every bill goes through this (the accrued cost while running and the final cost), so a job is
    never billed past its budget even when a cycle runs late or the cluster finishes it between
    two cycles; the budget stop (jobs/budgets.py) makes the cap a rare backstop, not the rule.
    """
    if budget_limit is None:
        return cost
    return min(cost, budget_limit)


def billing_period(at: datetime) -> str:
    """The cost record's period as the specification writes it: the UTC date, ``YYYY-MM-DD``."""
    return at.astimezone(UTC).date().isoformat()


def format_money(amount: Decimal | None) -> str:
    """Dollars rounded half-up to the cent: ``$1,234.57``, ``-$1.00``, ``<$0.01`` for dust.

    Raises:
        TypeError: for a float (or anything not Decimal/int): money is never float arithmetic.
    """
    if amount is None:
        return "—"
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise TypeError(f"money must be Decimal, got {type(amount).__name__}")
    value = Decimal(amount)
    if not value.is_finite():
        return "—"
    if Decimal(0) < value < Decimal("0.005"):
        return "<$0.01"
    cents = value.quantize(_CENT, rounding=ROUND_HALF_UP)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"
