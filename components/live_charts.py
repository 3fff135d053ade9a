"""Appending a monitor tick to the charts with ``dash.Patch`` instead of re-sending figures.

Smoothed lines and the best-validation marker depend on all earlier points, so a small JSON
``LiveChartState`` (EMA accumulators, best point, cursors, the chart options) rides in a
``dcc.Store``; ``append_points_patch(new_points, state)`` gives the patches and the next state.
Changing an option rebuilds figures and state from the downsampled history (docs/architecture.md §8).
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypedDict, cast

from dash import Patch, no_update

from catalog.metrics import METRICS
from components.chart_markers import evaluation_xy, marker_key
from components.charts import (
    BEST_SERIES,
    EARLY_MARKERS,
    XAxis,
    best_annotation,
    best_point,
    interpolate_elapsed,
    loss_series,
    loss_trace_index,
    panel_series,
    panel_trace_index,
    rounded,
    x_and_hover,
)
from components.smoothing import EmaState, ema_with_state, initial_ema_state
from services.downsample import MetricsPayload


class ChartOptions(TypedDict):
    """How the monitor's figures are drawn: the chart controls and the theme the user chose, and the
    job's steps per epoch (for the hovers' epoch; it follows the job, not a control)."""

    smoothing: float
    log_y: bool
    x_axis: XAxis
    dark: bool
    steps_per_epoch: float | None


class BestPoint(TypedDict):
    step: int
    value: float


class LiveChartState(TypedDict):
    options: ChartOptions
    last_step: int | None  # cursor: ask the API for ?since_step=<this>
    series_last_step: dict[str, int | None]  # drop re-sent points per series
    ema: dict[str, EmaState]  # continues the smoothed loss lines
    best: BestPoint | None  # best validation loss so far
    latest_validation: BestPoint | None  # newest evaluated point (the validation card shows it)
    early: dict[str, int]  # points of each dense series still drawn with markers (< EARLY_MARKERS)
    elapsed_tail: list[float] | None  # last known [step, seconds], to interpolate new points
    has_loss_points: bool  # False while the loss chart shows its empty-state message
    has_panel_points: bool


class LiveUpdate(NamedTuple):
    """Callback outputs for one tick: ``dash.no_update`` where a figure has nothing new."""

    loss: Any  # dash.Patch | dash.no_update
    panels: Any
    state: LiveChartState


def live_chart_state(
    metrics: MetricsPayload,
    *,
    smoothing: float,
    log_y: bool,
    x_axis: XAxis,
    steps_per_epoch: float | None,
    dark: bool = False,
) -> LiveChartState:
    """The state matching figures freshly built from ``metrics`` with these options."""
    series = metrics["series"]
    ema_states = {
        name: ema_with_state(series[name]["value"], smoothing, series[name]["step"])[1]
        for name in loss_series()
    }
    val = series[BEST_SERIES]
    best = best_point(val["step"], val["value"])
    latest = {"step": val["step"][-1], "value": val["value"][-1]} if val["step"] else None
    e = metrics["elapsed"]
    return {
        "options": {
            "smoothing": smoothing,
            "log_y": log_y,
            "x_axis": x_axis,
            "dark": dark,
            "steps_per_epoch": steps_per_epoch,
        },
        "last_step": metrics["last_step"],
        "series_last_step": {name: s["step"][-1] if s["step"] else None for name, s in series.items()},
        "ema": ema_states,
        "best": None if best is None else {"step": best[0], "value": best[1]},
        "latest_validation": cast(BestPoint | None, latest),
        "early": {
            name: len(s["step"])
            for name, s in series.items()
            if name in _dense_series() and len(s["step"]) < EARLY_MARKERS
        },
        "elapsed_tail": [e["step"][-1], e["seconds"][-1]] if e["step"] else None,
        "has_loss_points": any(series[n]["step"] for n in loss_series()),
        "has_panel_points": any(series[n]["step"] for n in panel_series()),
    }


def _dense_series() -> tuple[str, ...]:
    """The chart series drawn as lines (markers only while short); sparse ones always have markers."""
    return tuple(n for n in (*loss_series(), *panel_series()) if not METRICS[n].sparse)


def _extend(patch: Patch, index: int, xs: list[Any], ys: list[float], custom: list[list[Any]]) -> None:
    trace = patch["data"][index]
    trace["x"].extend(xs)
    trace["y"].extend(ys)
    trace["customdata"].extend(custom)


def append_points_patch(new_metrics: MetricsPayload, state: LiveChartState) -> LiveUpdate:
    """Patches that extend both figures with ``new_metrics`` (points newer than the cursor).

    Points at or before a series' last drawn step are ignored, so an overlapping or repeated
    tick is harmless. Applying the patches gives the same x/y/customdata as rebuilding the
    figures from the full history (tested), given the same options and no downsampling.
    """
    opts = state["options"]
    smoothing, x_axis, spe = opts["smoothing"], opts["x_axis"], opts["steps_per_epoch"]
    tail = state["elapsed_tail"]
    e = new_metrics["elapsed"]
    e_steps = ([int(tail[0])] if tail else []) + list(e["step"])
    e_secs = ([tail[1]] if tail else []) + list(e["seconds"])

    loss, panels = Patch(), Patch()
    loss_changed = panels_changed = best_moved = False
    series_last = dict(state["series_last_step"])
    losses, panel_index, loss_index = loss_series(), panel_trace_index(), loss_trace_index()
    ema_states = {name: state["ema"].get(name, initial_ema_state()) for name in losses}
    best = state["best"]
    latest = state.get("latest_validation")
    early = dict(state.get("early") or {})
    best_x: Any = None
    for name in (*losses, *panel_index):
        series = new_metrics["series"][name]
        after = series_last.get(name)
        pairs = [
            (s, v) for s, v in zip(series["step"], series["value"], strict=True) if after is None or s > after
        ]
        if not pairs:
            continue
        steps, values = [s for s, _ in pairs], [v for _, v in pairs]
        series_last[name] = steps[-1]
        xs, custom = x_and_hover(steps, interpolate_elapsed(steps, e_steps, e_secs), x_axis, spe)
        grown = name in early and early[name] + len(steps) >= EARLY_MARKERS
        if name in early:
            early[name] += len(steps)
        if grown:  # long enough for a line: drop the early markers, as a full render would
            del early[name]
        if name in panel_index:
            _extend(panels, panel_index[name], xs, values, custom)
            if grown:
                panels["data"][panel_index[name]]["mode"] = "lines"
            panels_changed = True
            continue
        loss_changed = True
        _extend(loss, loss_index[f"{name}_raw"], xs, values, custom)
        if name == BEST_SERIES:  # each evaluation gets its marker on the x-axis
            marks = evaluation_xy(xs, steps)
            trace = loss["data"][loss_index[marker_key("evaluation")]]
            trace["x"].extend(marks["x"])
            trace["y"].extend(marks["y"])
            trace["text"].extend(marks["text"])
        if grown:
            loss["data"][loss_index[f"{name}_raw"]]["mode"] = "lines"
            loss["data"][loss_index[f"{name}_smooth"]]["mode"] = "lines"
        if name == BEST_SERIES:
            latest = {"step": steps[-1], "value": values[-1]}
        if smoothing > 0 and not METRICS[name].sparse:
            smoothed, ema_states[name] = ema_with_state(values, smoothing, steps, ema_states[name])
            _extend(loss, loss_index[f"{name}_smooth"], xs, rounded(smoothed), custom)
        candidate = best_point(steps, values) if name == BEST_SERIES else None
        if candidate and (best is None or candidate[1] < best["value"]):
            best = {"step": candidate[0], "value": candidate[1]}
            i = steps.index(candidate[0])
            best_x, best_moved = xs[i], True
            marker = loss["data"][loss_index["best_validation"]]
            marker["x"], marker["y"], marker["customdata"] = [xs[i]], [candidate[1]], [custom[i]]

    if best_moved and best is not None and best_x is not None:
        loss["layout"]["annotations"] = [
            best_annotation(best_x, best["value"], best["step"], opts["log_y"], opts.get("dark", False))
        ]
    elif loss_changed and not state["has_loss_points"]:
        loss["layout"]["annotations"] = []  # drop the empty-state message
    if panels_changed and not state["has_panel_points"]:
        panels["layout"]["annotations"] = []

    new_tail = [e["step"][-1], e["seconds"][-1]] if e["step"] else tail
    last_step = new_metrics["last_step"]
    if last_step is None or (state["last_step"] is not None and last_step < state["last_step"]):
        last_step = state["last_step"]
    new_state: LiveChartState = {
        **state,
        "last_step": last_step,
        "series_last_step": series_last,
        "ema": ema_states,
        "best": best,
        "latest_validation": latest,
        "early": early,
        "elapsed_tail": new_tail,
        "has_loss_points": state["has_loss_points"] or loss_changed,
        "has_panel_points": state["has_panel_points"] or panels_changed,
    }
    return LiveUpdate(loss if loss_changed else no_update, panels if panels_changed else no_update, new_state)
