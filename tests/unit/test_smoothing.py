"""The EMA matches TensorBoard's debiased definition, respects step gaps and continues exactly."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.smoothing import clamp_weight, ema, ema_with_state


def _tensorboard_ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's reference implementation (vz_line_chart2 resmoothDataset)."""
    last, out = 0.0, []
    for n, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**n))
    return out


def test_zero_weight_is_identity() -> None:
    assert ema([3.0, 1.0, 2.0], 0.0) == [3.0, 1.0, 2.0]


def test_matches_tensorboard_without_steps() -> None:
    values = [5.0, 4.0, 4.5, 3.0, 3.2, 2.0, 2.5]
    assert ema(values, 0.6) == pytest.approx(_tensorboard_ema(values, 0.6))


def test_uniform_steps_equal_pointwise_smoothing() -> None:
    values = [5.0, 4.0, 4.5, 3.0, 3.2, 2.0]
    assert ema(values, 0.8, steps=[10, 20, 30, 40, 50, 60]) == pytest.approx(ema(values, 0.8))


def test_first_point_is_unbiased() -> None:
    assert ema([7.0, 7.0, 7.0], 0.99) == pytest.approx([7.0, 7.0, 7.0])


def test_big_gap_forgets_more_history() -> None:
    dense = ema([0.0, 0.0, 0.0, 0.0, 10.0], 0.9, steps=[0, 1, 2, 3, 4])
    gapped = ema([0.0, 0.0, 0.0, 0.0, 10.0], 0.9, steps=[0, 1, 2, 3, 100])
    assert gapped[-1] > dense[-1]
    assert gapped[-1] == pytest.approx(10.0, rel=0.02)


def test_non_finite_values_pass_through_without_poisoning() -> None:
    out = ema([1.0, math.nan, 1.0], 0.5)
    assert math.isnan(out[1])
    assert out[2] == pytest.approx(1.0)


def test_weight_is_clamped() -> None:
    assert clamp_weight(1.0) == 0.999
    assert clamp_weight(-1.0) == 0.0
    assert clamp_weight(math.nan) == 0.0


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=60),
    weight=st.floats(0.0, 0.999),
    split=st.integers(1, 59),
)
def test_continuing_from_state_equals_one_pass(values: list[float], weight: float, split: int) -> None:
    steps = [i * 3 for i in range(len(values))]
    split = min(split, len(values) - 1)
    whole = ema(values, weight, steps)
    head, state = ema_with_state(values[:split], weight, steps[:split])
    tail, _ = ema_with_state(values[split:], weight, steps[split:], state)
    assert head + tail == pytest.approx(whole, rel=1e-9, abs=1e-9)


def test_state_freezes_reference_interval_for_uneven_continuation() -> None:
    values = [4.0, 3.0, 3.5, 2.0, 2.2, 1.0]
    steps = [0, 10, 20, 21, 60, 61]
    head, state = ema_with_state(values[:3], 0.7, steps[:3])
    tail, _ = ema_with_state(values[3:], 0.7, steps[3:], state)
    assert state["interval"] == 10.0
    whole, _ = ema_with_state(values, 0.7, steps, {**state, "last": 0.0, "norm": 0.0, "step": None})
    assert head + tail == pytest.approx(whole)
