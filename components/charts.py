"""Pure Plotly figure builders for the job monitor: the loss chart and the grid of system panels.

Both figures always hold the same traces in the same order, even empty, because the live page
patches them by trace index (docs/architecture.md §8); the metric catalogue decides the panels.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from catalog.metrics import METRICS, chart_metrics
from components.chart_markers import (
    EVENT_KINDS,
    MARKER_AXIS,
    MARKER_KINDS,
    evaluation_xy,
    marker_key,
    marker_trace,
    marker_xy,
)
from components.smoothing import ema
from services.downsample import MetricsPayload, round_significant

XAxis = Literal["step", "elapsed"]

BEST_SERIES = "validation_loss"  # the loss series whose minimum gets the "best" marker
EMPTY_MESSAGE = "Waiting for the first metrics…"
RAW_OPACITY_BEHIND_SMOOTHED = 0.25
PANEL_COLUMNS = 2
# A dense series with fewer points than this is drawn with markers too: a lone point on a
# "lines" trace is invisible, so a job's first steps would show an empty chart.
EARLY_MARKERS = 5

_COLORS = {"training_loss": "#0d6efd", "validation_loss": "#fd7e14", "best": "#198754"}
_BEST_ON_DARK = "#4ade80"  # the best marker's green, light enough to read on the dark theme (8.9:1)


def loss_series() -> tuple[str, ...]:
    """The metrics on the loss chart, in catalogue order."""
    return tuple(m.name for m in chart_metrics("loss"))


def panel_series() -> tuple[str, ...]:
    """The metrics of the panel grid, in catalogue order (left to right, then down)."""
    return tuple(m.name for m in chart_metrics("panels"))


def loss_trace_index() -> dict[str, int]:
    """Trace of each line of the loss chart: every series raw, then every series smoothed, then
    the best-validation marker, then one trace per lifecycle marker kind (``training_loss_raw``,
    ..., ``best_validation``, ``marker_evaluation``, ...; components/chart_markers.py)."""
    names = loss_series()
    keys = [
        *(f"{n}_raw" for n in names),
        *(f"{n}_smooth" for n in names),
        "best_validation",
        *(marker_key(kind) for kind in MARKER_KINDS),
    ]
    return {key: index for index, key in enumerate(keys)}


def panel_trace_index() -> dict[str, int]:
    """Trace (and panel) of each metric of the grid."""
    return {name: index for index, name in enumerate(panel_series())}


def dense_mode(count: int) -> str:
    """Plotly ``mode`` of a dense series holding ``count`` points (see ``EARLY_MARKERS``)."""
    return "lines+markers" if count < EARLY_MARKERS else "lines"


def panel_rows() -> int:
    """Rows of the panel grid; the page sizes the graph by it (assets/monitor.css)."""
    return max(1, math.ceil(len(panel_series()) / PANEL_COLUMNS))


def format_clock(seconds: float) -> str:
    """Elapsed seconds as ``h:mm:ss`` (hours unbounded: ``27:03:09``)."""
    total = max(round(seconds), 0)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def interpolate_elapsed(
    steps: Sequence[int], elapsed_steps: Sequence[int], elapsed_seconds: Sequence[float]
) -> list[float | None]:
    """Seconds since start at each step, linearly interpolated between known (step, seconds).

    Steps outside the known range take the nearest end's value; with no known points, None.
    """
    if not elapsed_steps:
        return [None] * len(steps)
    out: list[float | None] = []
    last = len(elapsed_steps) - 1
    for step in steps:
        i = bisect_left(elapsed_steps, step)
        if i <= 0 or elapsed_steps[min(i, last)] == step:
            out.append(elapsed_seconds[min(i, last)])
        elif i > last:
            out.append(elapsed_seconds[last])
        else:
            s0, s1 = elapsed_steps[i - 1], elapsed_steps[i]
            t0, t1 = elapsed_seconds[i - 1], elapsed_seconds[i]
            out.append(t0 + (t1 - t0) * (step - s0) / (s1 - s0))
    return out


def x_and_hover(
    steps: Sequence[int],
    elapsed_seconds: Sequence[float | None],
    x_axis: XAxis,
    steps_per_epoch: float | None,
) -> tuple[list[float | int | None], list[list[Any]]]:
    """The x values (step, or elapsed minutes) and hover customdata ``[step, epoch, h:mm:ss]``."""
    xs: list[float | int | None] = []
    custom: list[list[Any]] = []
    for step, secs in zip(steps, elapsed_seconds, strict=True):
        if x_axis == "elapsed":
            xs.append(None if secs is None else round(secs / 60.0, 4))
        else:
            xs.append(step)
        epoch = round(step / steps_per_epoch, 3) if steps_per_epoch else None
        custom.append([step, epoch, "" if secs is None else format_clock(secs)])
    return xs, custom


def hover_template(label: str, value_format: str, steps_per_epoch: float | None) -> str:
    """Hover text: series name, step, epoch (when known), elapsed clock and the value."""
    epoch = "<br>epoch %{customdata[1]:.2f}" if steps_per_epoch else ""
    return (
        f"<b>{label}</b><br>step %{{customdata[0]:,}}{epoch}<br>elapsed %{{customdata[2]}}"
        f"<br>value %{{y:{value_format}}}<extra></extra>"
    )


def rounded(values: Sequence[float]) -> list[float]:
    """Values at 6 significant digits, like the payload: keeps figures and patches small."""
    return [round_significant(v) if math.isfinite(v) else v for v in values]


def best_point(steps: Sequence[int], values: Sequence[float]) -> tuple[int, float] | None:
    """The (step, value) of the minimum value; the earliest step wins a tie."""
    if not values:
        return None
    i = min(range(len(values)), key=values.__getitem__)
    return steps[i], values[i]


def best_color(dark: bool) -> str:
    return _BEST_ON_DARK if dark else _COLORS["best"]


def best_annotation(
    x: float | int, value: float, step: int, log_y: bool, dark: bool = False
) -> dict[str, Any]:
    """Annotation pointing at the best validation loss (log axes take log10 positions)."""
    y = math.log10(value) if log_y and value > 0 else value
    return {
        "x": x,
        "y": y,
        "xref": "x",
        "yref": "y",
        "text": f"best val {value:.4g} @ step {step:,}",
        "showarrow": True,
        "arrowhead": 2,
        "ax": 0,
        "ay": -36,
        "font": {"color": best_color(dark)},
    }


def empty_annotation() -> dict[str, Any]:
    """The centred empty-state message (removed by the first appended points)."""
    return {
        "text": EMPTY_MESSAGE,
        "xref": "paper",
        "yref": "paper",
        "x": 0.5,
        "y": 0.5,
        "showarrow": False,
        "font": {"size": 15},
        "opacity": 0.7,
    }


def base_layout(fig: go.Figure, *, dark: bool, uirevision: str) -> None:
    fig.update_layout(
        template="plotly_dark" if dark else "plotly_white",
        paper_bgcolor="rgba(0,0,0,0)",  # let the Bootstrap card background show through
        plot_bgcolor="rgba(0,0,0,0)",
        margin={"l": 56, "r": 16, "t": 32, "b": 44},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hovermode="closest",
        uirevision=uirevision,
    )


def _x_title(x_axis: XAxis) -> str:
    return "elapsed (min)" if x_axis == "elapsed" else "step"


def loss_figure(
    metrics: MetricsPayload,
    *,
    smoothing: float,
    log_y: bool,
    x_axis: XAxis,
    steps_per_epoch: float | None,
    dark: bool = False,
    markers: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    started_at: str | None = None,
    shown_markers: Collection[str] | None = None,
) -> go.Figure:
    """Training and validation loss on one chart, traces in ``loss_trace_index()`` order.

    ``markers`` are the event markers by kind (``chart_markers.event_markers``); evaluation
    markers follow the validation series. ``shown_markers`` (default: all) are visible.

    With ``smoothing > 0`` the dense raw lines are drawn faint behind debiased EMA lines; sparse
    series (validation) are drawn as measured, so the best (minimum) validation loss, which gets
    a marker and an annotation, lies on its line. ``uirevision`` keeps the user's
    zoom across updates but resets the x zoom when the x-axis kind changes and the y zoom when
    linear/log flips (old ranges would be meaningless).
    """
    e = metrics["elapsed"]
    fig = go.Figure()
    best_trace: dict[str, Any] = {"x": [], "y": [], "customdata": []}
    annotations: list[dict[str, Any]] = []
    traces: dict[str, go.Scatter] = {}
    names = loss_series()
    for name in names:
        metric = METRICS[name]
        series = metrics["series"][name]
        steps, values = series["step"], series["value"]
        xs, custom = x_and_hover(
            steps, interpolate_elapsed(steps, e["step"], e["seconds"]), x_axis, steps_per_epoch
        )
        # sparse: isolated points stay visible, and never smoothed (an EMA over a few evaluations
        # would pull the line off the points, and off the best-validation marker)
        mode = "lines+markers" if metric.sparse else dense_mode(len(steps))
        smoothed = smoothing > 0 and not metric.sparse
        common = {"x": xs, "customdata": custom, "legendgroup": name, "mode": mode}
        color = _COLORS.get(name)
        traces[f"{name}_raw"] = go.Scatter(
            y=values,
            name=metric.title + (" (raw)" if smoothed else ""),
            showlegend=not smoothed,
            opacity=RAW_OPACITY_BEHIND_SMOOTHED if smoothed else 1.0,
            line={"color": color, "width": 1.5},
            marker={"size": 5},
            hovertemplate=hover_template(metric.title, metric.hover_format, steps_per_epoch),
            **common,
        )
        if not smoothed:  # keep the trace (stable indices) but empty and hidden
            common = {**common, "x": [], "customdata": []}
        traces[f"{name}_smooth"] = go.Scatter(
            y=rounded(ema(values, smoothing, steps)) if smoothed else [],
            name=metric.title,
            visible=smoothed,
            line={"color": color, "width": 2.2},
            marker={"size": 5},
            hovertemplate=hover_template(metric.title + " (smoothed)", metric.hover_format, steps_per_epoch),
            **common,
        )
        if name == BEST_SERIES and (best := best_point(steps, values)):
            i = steps.index(best[0])
            best_trace = {"x": [xs[i]], "y": [best[1]], "customdata": [custom[i]]}
            x_best = xs[i]
            if x_best is not None:
                annotations.append(best_annotation(x_best, best[1], best[0], log_y, dark))
    for key in loss_trace_index():
        if key in traces:
            fig.add_trace(traces[key])
    fig.add_trace(
        go.Scatter(
            name="best validation",
            mode="markers",
            showlegend=False,
            marker={"symbol": "star", "size": 14, "color": best_color(dark), "line": {"width": 1}},
            hovertemplate=hover_template("best validation loss", ".4g", steps_per_epoch),
            **best_trace,
        )
    )
    shown = set(MARKER_KINDS) if shown_markers is None else set(shown_markers)
    val_trace = traces[f"{BEST_SERIES}_raw"]
    fig.add_trace(marker_trace("evaluation", evaluation_xy(val_trace.x or [], [c[0] for c in val_trace.customdata or []]),
                               "evaluation" in shown))  # fmt: skip
    for kind in EVENT_KINDS:
        data = marker_xy((markers or {}).get(kind, []), x_axis, started_at)
        fig.add_trace(marker_trace(kind, data, kind in shown))
    if not any(metrics["series"][n]["step"] for n in names):
        annotations = [empty_annotation()]
    base_layout(fig, dark=dark, uirevision="loss")
    fig.update_layout(yaxis2=MARKER_AXIS)
    fig.update_layout(annotations=annotations)
    fig.update_xaxes(title_text=_x_title(x_axis), uirevision=x_axis)
    fig.update_yaxes(title_text="loss", type="log" if log_y else "linear", uirevision=f"log={log_y}")
    return fig


def metric_panels_figure(
    metrics: MetricsPayload,
    *,
    x_axis: XAxis,
    steps_per_epoch: float | None,
    dark: bool = False,
) -> go.Figure:
    """The catalogue's panel metrics (learning rate, gradient norm, throughput, GPU utilisation)
    in a grid of two columns.

    One trace per panel in ``panel_trace_index()`` order; the x-axes are linked so zooming one
    panel zooms them all (same time window across system metrics). Raw values, no smoothing:
    a gradient-norm spike is exactly what this view is for.
    """
    names = panel_series()
    rows = panel_rows()
    fig = make_subplots(rows=rows, cols=PANEL_COLUMNS, horizontal_spacing=0.1, vertical_spacing=0.28 / rows)
    e = metrics["elapsed"]
    for index, name in enumerate(names):
        metric = METRICS[name]
        row, col = index // PANEL_COLUMNS + 1, index % PANEL_COLUMNS + 1
        title = metric.title
        series = metrics["series"][name]
        steps = series["step"]
        xs, custom = x_and_hover(
            steps, interpolate_elapsed(steps, e["step"], e["seconds"]), x_axis, steps_per_epoch
        )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=series["value"],
                customdata=custom,
                name=title,
                mode=dense_mode(len(steps)),
                showlegend=False,
                line={"width": 1.5},
                hovertemplate=hover_template(title, metric.hover_format, steps_per_epoch),
            ),
            row=row,
            col=col,
        )
        fig.update_yaxes(title_text=title, row=row, col=col, **metric.axis)
        fig.update_xaxes(title_text=_x_title(x_axis) if row == rows else None, row=row, col=col)
    base_layout(fig, dark=dark, uirevision="panels")
    fig.update_xaxes(uirevision=x_axis)
    for index in range(2, len(names) + 1):  # link zoom; the first axis must not match itself
        fig.layout[f"xaxis{index}"].matches = "x"
    fig.update_yaxes(uirevision="panels")
    if not any(metrics["series"][n]["step"] for n in names):
        fig.update_layout(annotations=[empty_annotation()])
    return fig
