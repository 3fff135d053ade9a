"""Figure builders: stable traces, best-val marker, axes, empty state, and Patch append == rebuild."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import plotly.graph_objects as go
import pytest
from dash import Patch, no_update

from components.charts import (
    EMPTY_MESSAGE,
    format_clock,
    interpolate_elapsed,
    loss_figure,
    loss_trace_index,
    metric_panels_figure,
    panel_trace_index,
)
from components.live_charts import append_points_patch, live_chart_state
from services.downsample import build_metrics_payload, empty_metrics_payload, series_names

START = 1_700_000_000.0


def _rows(first: int, last: int) -> list[tuple[Any, ...]]:
    """One row per 10 steps, 2.5 s apart; validation every 50 steps with a dip at step 300."""
    rows = []
    for step in range(first, last + 1, 10):
        val = None
        if step % 50 == 0:
            val = 0.5 if step == 300 else 1.0 + 1.0 / (1 + step / 100)
        rows.append(
            (step, START + step * 0.25, 2.0 / (1 + step / 200) + (step % 30) / 100, val,
             1e-4 * (1 - step / 2000), 1.0 + (step % 7) / 10, 12000.0 + step, 90.0 + step % 5)
        )  # fmt: skip
    return rows


def _payload(first: int, last: int) -> Any:
    return build_metrics_payload(_rows(first, last), 1000, started_at_epoch_s=START)


def _trace(fig: go.Figure, index: int) -> Any:
    return fig.data[index]


def test_loss_traces_are_in_the_documented_order() -> None:
    fig = loss_figure(_payload(10, 600), smoothing=0.6, log_y=False, x_axis="step", steps_per_epoch=100)
    assert len(fig.data) == len(loss_trace_index()) == 10  # 5 loss traces, then one per marker kind
    raw = _trace(fig, loss_trace_index()["training_loss_raw"])
    smooth = _trace(fig, loss_trace_index()["training_loss_smooth"])
    assert raw.opacity < 0.5 and smooth.visible is True  # noqa: PT018
    assert list(raw.x) == list(smooth.x)
    assert _trace(fig, loss_trace_index()["validation_loss_raw"]).x[0] == 50


def test_no_smoothing_keeps_hidden_empty_smoothed_traces_and_opaque_raw() -> None:
    fig = loss_figure(_payload(10, 600), smoothing=0.0, log_y=False, x_axis="step", steps_per_epoch=None)
    assert len(fig.data) == len(loss_trace_index())
    assert fig.data[loss_trace_index()["training_loss_smooth"]].visible is False
    assert list(fig.data[loss_trace_index()["training_loss_smooth"]].y) == []
    assert fig.data[loss_trace_index()["training_loss_raw"]].opacity == 1.0


def test_best_validation_marker_sits_at_the_true_minimum() -> None:
    payload = _payload(10, 600)
    fig = loss_figure(payload, smoothing=0.6, log_y=False, x_axis="step", steps_per_epoch=100)
    val = payload["series"]["validation_loss"]
    best = _trace(fig, loss_trace_index()["best_validation"])
    assert list(best.y) == [min(val["value"])] == [0.5]
    assert list(best.x) == [300]
    assert best.customdata[0][1] == 3.0  # epoch = 300 / 100
    (annotation,) = fig.layout.annotations
    assert annotation.x == 300
    assert "0.5" in annotation.text


def test_log_toggle_sets_axis_type_and_log_annotation_position() -> None:
    payload = _payload(10, 600)
    log = loss_figure(payload, smoothing=0, log_y=True, x_axis="step", steps_per_epoch=None)
    lin = loss_figure(payload, smoothing=0, log_y=False, x_axis="step", steps_per_epoch=None)
    assert log.layout.yaxis.type == "log"
    assert lin.layout.yaxis.type == "linear"
    assert log.layout.annotations[0].y == pytest.approx(math.log10(0.5))
    assert log.layout.yaxis.uirevision != lin.layout.yaxis.uirevision
    assert log.layout.uirevision


def test_elapsed_x_axis_interpolates_minutes_and_hover_shows_clock() -> None:
    fig = loss_figure(_payload(10, 600), smoothing=0, log_y=False, x_axis="elapsed", steps_per_epoch=None)
    raw = _trace(fig, loss_trace_index()["training_loss_raw"])
    assert raw.x[-1] == pytest.approx(600 * 0.25 / 60)  # step 600 -> 150 s -> 2.5 min
    assert raw.customdata[-1][2] == "0:02:30"
    assert fig.layout.xaxis.title.text == "elapsed (min)"
    assert "epoch" not in raw.hovertemplate


def test_interpolate_elapsed_between_known_points() -> None:
    assert interpolate_elapsed([0, 5, 10, 20], [0, 10], [0.0, 100.0]) == [0.0, 50.0, 100.0, 100.0]
    assert interpolate_elapsed([3], [], []) == [None]
    assert format_clock(3723.4) == "1:02:03"
    assert format_clock(27 * 3600) == "27:00:00"


def test_empty_state_message_and_stable_trace_count() -> None:
    loss = loss_figure(
        empty_metrics_payload(), smoothing=0.6, log_y=False, x_axis="step", steps_per_epoch=None
    )
    panels = metric_panels_figure(empty_metrics_payload(), x_axis="step", steps_per_epoch=None)
    assert len(loss.data) == len(loss_trace_index())
    assert len(panels.data) == 4
    assert loss.layout.annotations[0].text == EMPTY_MESSAGE
    assert panels.layout.annotations[0].text == EMPTY_MESSAGE


def test_panels_have_one_trace_per_metric_on_linked_axes() -> None:
    payload = _payload(10, 600)
    fig = metric_panels_figure(payload, x_axis="step", steps_per_epoch=100, dark=True)
    for name, index in panel_trace_index().items():
        assert list(fig.data[index].y) == payload["series"][name]["value"]
    assert fig.layout.xaxis2.matches == "x"
    assert fig.layout.yaxis4.range == (0, 105)
    assert not fig.layout.annotations


def _apply(figure: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply a dash.Patch the way the browser does (only the operations we emit)."""
    if patch is no_update:
        return figure
    assert isinstance(patch, Patch)
    for op in patch.to_plotly_json()["operations"]:
        *parents, key = op["location"]
        target: Any = figure
        for part in parents:
            target = target.setdefault(part, {}) if isinstance(target, dict) else target[part]
        if op["operation"] == "Assign":
            target[key] = op["params"]["value"]
        elif op["operation"] == "Extend":
            target[key] = [*target.get(key, []), *op["params"]["value"]]
        else:
            raise AssertionError(op)
    return figure


def _as_json(fig: go.Figure) -> dict[str, Any]:
    return json.loads(fig.to_json())


def _comparable(figure: dict[str, Any]) -> list[Any]:
    data = [(t.get("x", []), t.get("y", []), t.get("customdata", []), t.get("mode")) for t in figure["data"]]
    return [data, figure["layout"].get("annotations", [])]


@pytest.mark.parametrize(
    ("smoothing", "x_axis", "log_y", "split"),
    [
        (0.6, "step", False, 300),
        (0.0, "elapsed", True, 290),
        (0.9, "elapsed", False, 10),
        (0.5, "step", True, 0),
        (0.6, "step", False, 20),  # two points: drawn with markers until the series grows
    ],
)
def test_patch_append_equals_full_rebuild(smoothing: float, x_axis: Any, log_y: bool, split: int) -> None:
    opts: dict[str, Any] = {
        "smoothing": smoothing,
        "log_y": log_y,
        "x_axis": x_axis,
        "steps_per_epoch": 100.0,
    }
    head = _payload(10, split) if split else empty_metrics_payload()
    loss = _as_json(loss_figure(head, **opts))
    panels = _as_json(metric_panels_figure(head, x_axis=x_axis, steps_per_epoch=100.0))
    state = live_chart_state(head, **opts)
    state = json.loads(json.dumps(state))  # it round-trips through a dcc.Store
    for first in range(split + 10, 601, 100):  # several ticks
        update = append_points_patch(_payload(first, min(first + 90, 600)), state)
        loss, panels, state = _apply(loss, update.loss), _apply(panels, update.panels), update.state
    full = _payload(10, 600)
    assert _comparable(loss) == _comparable(_as_json(loss_figure(full, **opts)))
    rebuilt = _as_json(metric_panels_figure(full, x_axis=x_axis, steps_per_epoch=100.0))
    assert _comparable(panels) == _comparable(rebuilt)
    assert state["last_step"] == 600


def test_repeated_tick_is_ignored_and_nothing_new_is_no_update() -> None:
    opts: dict[str, Any] = {"smoothing": 0.6, "log_y": False, "x_axis": "step", "steps_per_epoch": None}
    head = _payload(10, 300)
    state = live_chart_state(head, **opts)
    update = append_points_patch(_payload(200, 300), state)
    assert update.loss is no_update
    assert update.panels is no_update
    assert update.state["series_last_step"] == state["series_last_step"]
    empty = copy.deepcopy(empty_metrics_payload())
    assert append_points_patch(empty, state).state["last_step"] == 300
    assert set(state["series_last_step"]) == set(series_names())


def test_validation_is_drawn_as_measured_so_the_best_marker_lies_on_its_line() -> None:
    payload = _payload(10, 600)
    fig = loss_figure(payload, smoothing=0.9, log_y=False, x_axis="step", steps_per_epoch=None)
    index = loss_trace_index()
    raw, smooth = fig.data[index["validation_loss_raw"]], fig.data[index["validation_loss_smooth"]]
    assert raw.opacity == 1.0 and raw.showlegend is True  # noqa: PT018
    assert smooth.visible is False and list(smooth.y) == []  # noqa: PT018
    assert fig.data[index["training_loss_smooth"]].visible is True  # training loss is still smoothed
    best = fig.data[index["best_validation"]]
    drawn = dict(zip(raw.x, raw.y, strict=True))
    assert (best.x[0], best.y[0]) == (300, 0.5)
    assert drawn[best.x[0]] == best.y[0]


@pytest.mark.parametrize("points", [1, 2])
def test_the_first_points_are_drawn_with_markers_and_a_long_series_as_a_line(points: int) -> None:
    early = _payload(10, 10 * points)
    loss = loss_figure(early, smoothing=0.6, log_y=False, x_axis="step", steps_per_epoch=None)
    panels = metric_panels_figure(early, x_axis="step", steps_per_epoch=None)
    index = loss_trace_index()
    assert len(loss.data[index["training_loss_raw"]].x) == points
    assert loss.data[index["training_loss_raw"]].mode == "lines+markers"
    assert loss.data[index["training_loss_smooth"]].mode == "lines+markers"
    assert {trace.mode for trace in panels.data} == {"lines+markers"}
    assert EMPTY_MESSAGE not in json.dumps(_as_json(loss)["layout"].get("annotations", []))
    later = _payload(10, 600)
    assert (
        loss_figure(later, smoothing=0.6, log_y=False, x_axis="step", steps_per_epoch=None).data[0].mode
        == "lines"
    )
    assert {
        trace.mode for trace in metric_panels_figure(later, x_axis="step", steps_per_epoch=None).data
    } == {"lines"}


def test_the_state_follows_the_latest_evaluated_point_for_the_validation_card() -> None:
    opts: dict[str, Any] = {"smoothing": 0.6, "log_y": False, "x_axis": "step", "steps_per_epoch": None}
    state = live_chart_state(_payload(10, 320), **opts)
    assert state["latest_validation"] == {"step": 300, "value": 0.5}
    update = append_points_patch(_payload(330, 360), state)
    assert update.state["latest_validation"] == {"step": 350, "value": 1.22222}  # 6 significant digits
    assert update.state["best"] == {"step": 300, "value": 0.5}
    assert live_chart_state(empty_metrics_payload(), **opts)["latest_validation"] is None
