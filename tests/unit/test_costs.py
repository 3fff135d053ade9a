from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.costs import (
    PricingError,
    billing_period,
    cap_to_budget,
    compute_cost,
    elapsed_hours,
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
    # 2 × H100 ($8.40/h) for 1 h 30 min 0.36 s = 8.40 × 1.5001 h = 12.60084 → 12.6008
    end = T0 + timedelta(hours=1, minutes=30, seconds=0.36)
    assert compute_cost(Decimal("8.40"), T0, end) == Decimal("12.6008")
    # one second on one V100: 2.10 / 3600 = 0.000583… → 0.0006
    assert compute_cost(Decimal("2.10"), T0, T0 + timedelta(seconds=1)) == Decimal("0.0006")


def test_a_run_longer_than_a_day_is_billed_for_every_day() -> None:
    # 2 × H100 for 26 h 15 min 30 s = 94,530 s: 8.40 × 94,530 / 3,600 = 794,052 / 3,600 = 220.57
    end = T0 + timedelta(hours=26, minutes=15, seconds=30)
    assert compute_cost(Decimal("8.40"), T0, end) == Decimal("220.5700")
    assert elapsed_hours(T0, end) == Decimal(94_530) / 3_600  # 26.258333… h, not 2.258333… (days kept)
    # 3 days and 1 µs on one A100-80GB: 3.50 × 72 h = 252.00, plus 3.50 / 3.6e9 (≈ 1e-9) → 252.0000
    assert compute_cost(Decimal("3.50"), T0, T0 + timedelta(days=3, microseconds=1)) == Decimal("252.0000")


@pytest.mark.parametrize(
    ("seconds", "billed"),
    [
        (
            27,
            "0.0263",
        ),  # 3.50 × 27 / 3600 = 0.02625 exactly: half-up → 0.0263 (half-even or truncation: 0.0262)
        (9, "0.0088"),  # 3.50 × 9 / 3600 = 0.00875 exactly → 0.0088
        (26, "0.0253"),  # 3.50 × 26 / 3600 = 0.025277… → 0.0253 (below the half: down)
        (1, "0.0010"),  # 3.50 / 3600 = 0.000972… → 0.0010
    ],
)
def test_sub_cent_amounts_round_half_up_at_one_hundredth_of_a_cent(seconds: int, billed: str) -> None:
    assert compute_cost(Decimal("3.50"), T0, T0 + timedelta(seconds=seconds)) == Decimal(billed)


def test_cost_never_negative_when_clocks_disagree() -> None:
    assert compute_cost(Decimal("3.50"), T0, T0 - timedelta(minutes=5)) == Decimal("0.0000")
    assert elapsed_hours(T0, T0 - timedelta(days=2)) == Decimal(0)


def test_cap_to_budget_bills_at_most_the_budget() -> None:
    assert cap_to_budget(Decimal("12.3456"), None) == Decimal("12.3456")
    assert cap_to_budget(Decimal("12.3456"), Decimal("50")) == Decimal("12.3456")
    assert cap_to_budget(Decimal("50.0000"), Decimal("50")) == Decimal("50")
    assert cap_to_budget(Decimal("50.0001"), Decimal("50")) == Decimal("50")
    # 2 × H100 for 26 h 15 min 30 s ($220.57) under a $200 budget: billed $200
    long_run = compute_cost(Decimal("8.40"), T0, T0 + timedelta(hours=26, minutes=15, seconds=30))
    assert cap_to_budget(long_run, Decimal("200.0000")) == Decimal("200.0000")


def test_billing_period() -> None:
    assert billing_period(T0) == "2026-11-28"
