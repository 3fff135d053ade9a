from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.costs import (
    PricingError,
    billing_period,
    cap_to_budget,
    compute_cost,
    hourly_rate,
)

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("gpu", "count", "rate"),
    [("A100-80GB", 1, "3.50"), ("A100-40GB", 2, "5.60"), ("H100", 8, "33.60"), ("V100-32GB", 3, "6.30")],
)
def test_rate_is_price_times_count(gpu: str, count: int, rate: str) -> None:
    assert hourly_rate(gpu, count) == Decimal(rate)


@pytest.mark.parametrize(
    ("gpu", "count"), [("TPUv5", 1), (None, 1), ("H100", 0), ("H100", 9), ("H100", 1.5), ("H100", True)]
)
def test_unpriceable_configs_are_refused(gpu: object, count: object) -> None:
    with pytest.raises(PricingError):
        hourly_rate(gpu, count)


def test_cost_is_exact_decimal() -> None:
    # 2 × H100 for 1 h 30 min 0.36 s = 8.40 × 1.5001 h = 12.6008.4 → 12.6008
    end = T0 + timedelta(hours=1, minutes=30, seconds=0.36)
    assert compute_cost(hourly_rate("H100", 2), T0, end) == Decimal("12.6008")
    # one second on one V100: 2.10 / 3600 = 0.000583… → 0.0006
    assert compute_cost(Decimal("2.10"), T0, T0 + timedelta(seconds=1)) == Decimal("0.0006")


def test_cost_never_negative_when_clocks_disagree() -> None:
    assert compute_cost(Decimal("3.50"), T0, T0 - timedelta(minutes=5)) == Decimal("0.0000")


def test_cap_to_budget_bills_at_most_the_budget() -> None:
    assert cap_to_budget(Decimal("12.3456"), None) == Decimal("12.3456")
    assert cap_to_budget(Decimal("12.3456"), Decimal("50")) == Decimal("12.3456")
    assert cap_to_budget(Decimal("50.0001"), Decimal("50")) == Decimal("50")


def test_billing_period() -> None:
    assert billing_period(T0) == "2026-11"
