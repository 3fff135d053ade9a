"""Monitor building blocks: formatting, ETA, cost and the configuration table."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from components.estimates import eta_seconds, projected_final_cost, seconds_per_step
from components.formatters import format_duration, format_loss, format_relative_time, format_throughput
from components.job_view import config_table
from services.costs import format_money

ALL_STATUSES = ("queued", "initializing", "running", "completed", "failed", "cancelled")


def _text(component: Any) -> str:
    """All visible text in a component tree."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


def _class_names(component: Any) -> list[str]:
    if isinstance(component, list | tuple):
        return [c for child in component for c in _class_names(child)]
    if not hasattr(component, "to_plotly_json"):
        return []
    own = [getattr(component, "className", None) or ""]
    return own + _class_names(getattr(component, "children", None))


def test_formatters() -> None:
    assert format_loss(0.123456) == "0.1235"
    assert format_loss(float("nan")) == "NaN"
    assert format_loss(None) == "—"
    assert format_throughput(12345.4) == "12,345 tok/s"
    assert format_duration(45) == "45s"
    assert format_duration(185) == "3m 05s"
    assert format_duration(3720) == "1h 02m"
    assert format_duration(2 * 86400 + 3 * 3600) == "2d 03h"


def test_money_formatting_is_exact_decimal() -> None:
    assert format_money(Decimal("1.23")) == "$1.23"
    assert format_money(Decimal("1234.565")) == "$1,234.57"  # half-up, not banker's
    assert format_money(Decimal("0.1") + Decimal("0.2")) == "$0.30"
    assert format_money(Decimal("-1")) == "-$1.00"
    assert format_money(Decimal("0.0001")) == "<$0.01"
    assert format_money(Decimal("0")) == "$0.00"
    with pytest.raises(TypeError):
        format_money(1.23)  # type: ignore[arg-type]


def test_eta_on_constant_rate_series() -> None:
    steps = list(range(0, 1000, 10))
    elapsed = [s * 0.5 for s in steps]  # 0.5 s per step
    assert eta_seconds(steps, elapsed, 990, 2000) == pytest.approx(1010 * 0.5)
    assert eta_seconds(steps, elapsed, 2000, 2000) == 0.0


def test_eta_none_without_enough_data() -> None:
    assert eta_seconds([], [], 0, 100) is None
    assert eta_seconds([0, 10, 20], [0.0, 5.0, 10.0], 20, 100) is None
    assert eta_seconds([0, 10, 20, 30], [0.0, 5.0, 10.0, 15.0], 30, 0) is None
    assert seconds_per_step([0, 10, 20, 30], [0.0, 0.0, 0.0, 0.0]) is None


def test_eta_ignores_a_single_stall() -> None:
    steps = list(range(0, 200, 10))
    elapsed = [s * 0.5 for s in steps]
    elapsed = elapsed[:15] + [e + 600 for e in elapsed[15:]]  # a 10-minute checkpoint upload
    assert seconds_per_step(steps, elapsed) == pytest.approx(0.5)


def test_projected_final_cost_decimal_and_accrual_lag() -> None:
    rate = Decimal("2.50")  # per hour
    assert projected_final_cost(Decimal("2.50"), 3600, 1800, rate) == Decimal("3.7500")
    # stored cost lags the clock: the clock's 2h wins over the stored 1h
    assert projected_final_cost(Decimal("2.50"), 7200, 0, rate) == Decimal("5.0000")
    assert isinstance(projected_final_cost(Decimal(0), 1, 1, rate), Decimal)


def test_config_table_lists_every_setting() -> None:
    job = {
        "preset_id": "llama3-8b-qlora",
        "hyperparameters": {
            "learning_rate": 0.0002,
            "lora_rank": 16,
            "lora_alpha": 32,
            "epochs": 3,
            "x_new": True,
        },
        "gpu_config": {"type": "A100-80GB", "count": 2, "region": "eu"},
        "total_epochs": 3,
        "total_steps": 1500,
        "estimated_total_cost": "12.3400",
        "budget_limit": Decimal("20"),
    }
    dataset = {
        "name": "support-chats",
        "total_training_pairs": 12000,
        "total_tokens": 3456789,
        "format": "jsonl",
    }
    text = _text(config_table(job, dataset))
    for expected in (
        "llama3-8b-qlora",
        "A100-80GB",
        "Lora rank",
        "16",
        "0.0002",
        "X new",
        "yes",
        "Region",
        "eu",
    ):
        assert expected in text
    for expected in ("support-chats", "12,000", "3,456,789", "$12.34", "$20.00", "1,500"):
        assert expected in text
    assert "Dataset" not in _text(config_table(job, None))


def test_relative_time() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert format_relative_time(now, now) == "just now"
    assert format_relative_time(datetime(2025, 12, 30, tzinfo=UTC), now) == "2 days ago"
    assert format_relative_time(datetime(2026, 1, 1, 0, 4, tzinfo=UTC), now) == "in 4 min"
