"""Debiased exponential moving average (TensorBoard's smoothing), aware of uneven step spacing.

Each point decays the history by ``weight**k`` for a gap of k reference intervals, because the charts
show downsampled history (uneven gaps) followed by raw live points; the reference interval is frozen
in the state so a curve continued tick by tick equals one computed over the whole series.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from statistics import median
from typing import TypedDict

MAX_WEIGHT = 0.999


class EmaState(TypedDict):
    """Everything needed to continue an EMA; small and JSON-serialisable (fits a dcc.Store)."""

    last: float  # biased accumulator
    norm: float  # sum of weights applied so far; last / norm is the debiased value
    step: float | None  # step of the last point folded in
    interval: float | None  # reference step gap that one application of ``weight`` stands for


def initial_ema_state() -> EmaState:
    """The state before any point: continuing from it equals starting fresh."""
    return {"last": 0.0, "norm": 0.0, "step": None, "interval": None}


def clamp_weight(weight: float) -> float:
    """Clamp a UI smoothing weight into [0, 0.999]; 1.0 would freeze the curve forever."""
    if not math.isfinite(weight):
        return 0.0
    return min(max(weight, 0.0), MAX_WEIGHT)


def _reference_interval(steps: Sequence[float]) -> float | None:
    gaps = [b - a for a, b in pairwise(steps) if b > a]
    return float(median(gaps)) if gaps else None


def ema_with_state(
    values: Sequence[float],
    weight: float,
    steps: Sequence[int] | None = None,
    state: EmaState | None = None,
) -> tuple[list[float], EmaState]:
    """Smooth ``values`` continuing from ``state``; return the smoothed values and the new state.

    Non-finite values are passed through unsmoothed and do not disturb the average (as in
    TensorBoard). With ``steps=None`` every point decays the history by ``weight`` exactly once.
    """
    w = clamp_weight(weight)
    st = initial_ema_state() if state is None else state.copy()
    if steps is not None and len(steps) != len(values):
        raise ValueError(f"steps ({len(steps)}) and values ({len(values)}) differ in length")
    if w == 0.0:
        if values:
            st["last"], st["norm"] = float(values[-1]), 1.0
            st["step"] = None if steps is None else float(steps[-1])
        return [float(v) for v in values], st

    if steps is not None and st["interval"] is None:
        anchor: list[float] = [] if st["step"] is None else [st["step"]]
        st["interval"] = _reference_interval([*anchor, *steps])
    last, norm, prev_step, interval = st["last"], st["norm"], st["step"], st["interval"]
    out: list[float] = []
    for i, value in enumerate(values):
        if not math.isfinite(value):
            out.append(value)
            continue
        decay = w
        if steps is not None:
            step = float(steps[i])
            if prev_step is not None and interval and step > prev_step:
                decay = w ** ((step - prev_step) / interval)
            prev_step = step
        last = last * decay + (1.0 - decay) * value
        norm = norm * decay + (1.0 - decay)
        out.append(last / norm)
    return out, {"last": last, "norm": norm, "step": prev_step, "interval": interval}


def ema(values: Sequence[float], weight: float, steps: Sequence[int] | None = None) -> list[float]:
    """Debiased EMA of ``values`` with ``weight`` in [0, 0.999]; 0 returns the values unchanged.

    With ``steps``, a gap of ``k`` reference intervals (median step gap) decays by ``weight**k``,
    so a downsampled series smooths like the dense one it stands for.
    """
    return ema_with_state(values, weight, steps)[0]
