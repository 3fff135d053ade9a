"""Output values of the monitor's callbacks, from a ``MonitorSnapshot``: the full render, a tick,
the not-found alert and the cancel result. Pure (JSON in, components, strings and figures out), and
a tick answers ``no_update`` for anything the browser already shows.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, TypedDict, cast

import dash_bootstrap_components as dbc
from dash import Output, Patch, dcc, html, no_update

from components.activity_log import activity_log, relative_time, stop_alert
from components.aria import aria
from components.chart_markers import EVENT_KINDS, event_markers, marker_key, marker_xy
from components.charts import loss_figure, loss_trace_index, metric_panels_figure
from components.formatters import base_model_name, parse_timestamp
from components.job_status import progress_style, status_badge
from components.job_view import config_table
from components.live_charts import ChartOptions, LiveChartState, append_points_patch, live_chart_state
from components.monitor_numbers import (
    MonitorNumbers,
    RateWindow,
    is_active,
    job_title,
    monitor_numbers,
    points_after,
    progress_parts,
    rate_window,
    steps_per_epoch,
)
from components.smoothing import clamp_weight
from pages.monitor.data import MonitorSnapshot
from pages.monitor.layout import (
    ACTIVITY,
    BADGE,
    CANCEL_WRAP,
    CARDS,
    CHART_OPTIONS,
    CHART_STATE,
    ETA_FROM,
    INTERVAL,
    LIVE_DETAILS,
    LOSS_GRAPH,
    PANELS_GRAPH,
    PROGRESS_BAR,
    PROGRESS_EPOCH,
    PROGRESS_STEP,
    RETRY,
    STOP_ALERT,
    VIEW_STATE,
    card_detail,
    card_value,
)
from services.downsample import series_names

HIDDEN = "d-none"
RETRY_LOOK = "btn btn-sm btn-primary"


class ViewState(TypedDict):
    """What the browser shows now, so a tick re-sends only what changed."""

    status: str
    events: list[Any]  # [count, newest id]


def status_outputs(duplicate: bool) -> dict[str, Output]:
    """The outputs every callback that learns the job's state writes (render, tick, cancel)."""

    def out(component_id: str, prop: str) -> Output:
        return Output(component_id, prop, allow_duplicate=duplicate)

    outs = {
        "badge": out(BADGE, "children"),
        "cancel_wrap": out(CANCEL_WRAP, "className"),
        "retry": out(RETRY, "className"),
        "activity": out(ACTIVITY, "children"),
        "stop_alert": out(STOP_ALERT, "children"),
        "interval_disabled": out(INTERVAL, "disabled"),
        "view_state": out(VIEW_STATE, "data"),
        "progress_value": out(PROGRESS_BAR, "value"),
        "progress_label": out(PROGRESS_BAR, "label"),
        "progress_class": out(PROGRESS_BAR, "className"),
        "progress_striped": out(PROGRESS_BAR, "striped"),
        "progress_animated": out(PROGRESS_BAR, "animated"),
        "progress_epoch": out(PROGRESS_EPOCH, "children"),
        "progress_step": out(PROGRESS_STEP, "children"),
    }
    for name in CARDS:
        outs[f"{name}_value"] = out(card_value(name), "children")
    for name in LIVE_DETAILS:
        outs[f"{name}_detail"] = out(card_detail(name), "children")
    return outs


def chart_outputs() -> dict[str, Output]:
    """What a full render writes about the charts: both figures and the stores describing them."""
    return {
        "loss_figure": Output(LOSS_GRAPH, "figure"),
        "panels_figure": Output(PANELS_GRAPH, "figure"),
        "chart_state": Output(CHART_STATE, "data"),
        "chart_options": Output(CHART_OPTIONS, "data"),
        "eta_from": Output(ETA_FROM, "data"),
    }


def tick_chart_outputs() -> dict[str, Output]:
    """What a tick writes about the charts: the figures' patches, the cursor and the ETA window.
    Never the options."""
    return {
        "loss_figure": Output(LOSS_GRAPH, "figure", allow_duplicate=True),
        "panels_figure": Output(PANELS_GRAPH, "figure", allow_duplicate=True),
        "chart_state": Output(CHART_STATE, "data", allow_duplicate=True),
        "eta_from": Output(ETA_FROM, "data", allow_duplicate=True),
    }


def _view_state(job: dict[str, Any], events: list[dict[str, Any]]) -> ViewState:
    return {"status": job["status"], "events": [len(events), events[0]["id"] if events else None]}


def split_state(state: LiveChartState) -> tuple[dict[str, Any], dict[str, Any]]:
    """(cursor, options) as the browser stores them; ``join_state`` is the inverse.

    The options are fixed between full renders, so ticks do not resend them. Per-series cursors
    equal to ``last_step`` (all series but validation, usually) are left out: the cursor rides
    in every tick response and these are a sixth of it.
    """
    last = state["last_step"]
    cursor: dict[str, Any] = {key: value for key, value in state.items() if key != "options"}
    cursor["series_last_step"] = {
        name: step for name, step in state["series_last_step"].items() if step != last
    }
    return cursor, dict(state["options"])


def join_state(cursor: Mapping[str, Any], options: Mapping[str, Any]) -> LiveChartState:
    """The ``LiveChartState`` that ``split_state`` took apart."""
    last = cursor["last_step"]
    stored = cursor.get("series_last_step") or {}
    series_last = {name: stored.get(name, last) for name in series_names()}
    return cast(LiveChartState, {**cursor, "series_last_step": series_last, "options": dict(options)})


def _point(state: Mapping[str, Any] | None, key: str) -> tuple[int, float] | None:
    point = state.get(key) if state else None
    return (point["step"], point["value"]) if point else None


def _interval_disabled(status: str, shown: ViewState | None, status_changed: bool) -> Any:
    """Whether the page stops polling after this answer.

    A full render (``shown`` None) read every stored point: a terminal job stops at once. A tick
    or a cancel that first sees the job terminal keeps polling once more, so the points stored
    around the end (after the last tick, up to the final step) are drawn before the page goes
    quiet; the tick after that, the job already shown terminal, stops it.
    """
    if is_active(status):
        return False if status_changed else no_update
    return shown is None or not status_changed


def status_values(
    snap: MonitorSnapshot,
    numbers: MonitorNumbers,
    now: datetime,
    shown: ViewState | None = None,
) -> dict[str, Any]:
    """Values for ``status_outputs``; with ``shown`` (a tick), unchanged parts are ``no_update``.

    Progress values and card texts are a few bytes each and change on most ticks, so they are
    always sent; the badge, the cancel button and the bar's colour follow the status; the
    activity log and the stop alert are re-rendered only when an event was added; the interval
    follows ``_interval_disabled``.
    """
    job, events = snap.job, snap.events
    view = _view_state(job, events)
    status_changed = shown is None or shown["status"] != view["status"]
    events_changed = shown is None or shown["events"] != view["events"]
    parts = progress_parts(job)
    look, moving = progress_style(job["status"])
    values: dict[str, Any] = {
        "badge": status_badge(job["status"]),
        "cancel_wrap": "" if is_active(job["status"]) else HIDDEN,
        "retry": RETRY_LOOK + ("" if job["status"] == "failed" else f" {HIDDEN}"),
        "progress_class": f"monitor-progress {look}",
        "progress_striped": moving,
        "progress_animated": moving,
    }
    if not status_changed:
        values = dict.fromkeys(values, no_update)
    values.update(
        activity=activity_log(events, job, snap.owner_email, now)
        if events_changed or status_changed
        else no_update,
        stop_alert=stop_alert(job, events, snap.owner_email, now)
        if events_changed or status_changed
        else no_update,
        interval_disabled=_interval_disabled(job["status"], shown, status_changed),
        view_state=view if view != shown else no_update,
        progress_value=parts["value"],
        progress_label=parts["label"],
        progress_epoch=parts["epoch"],
        progress_step=parts["step"],
    )
    values.update(numbers)
    return values


def header_values(snap: MonitorSnapshot, now: datetime) -> dict[str, Any]:
    """Title, subtitle and the configuration tab (they change only with a full render)."""
    job = snap.job
    gpu = job.get("gpu_config") or {}
    created = parse_timestamp(job["created_at"]) if job.get("created_at") else None
    parts = [
        base_model_name(job.get("base_model")),
        f"{gpu.get('count', '?')}× {gpu.get('type', 'GPU')}",
        f"preset {job.get('preset_id')}",
    ]
    dataset_name = snap.dataset["name"] if snap.dataset else None
    summary: list[Any] = [" · ".join(p for p in parts if p)]
    if created:
        summary += [" · created ", relative_time(created, now)]
    return {
        "title": job_title(job, dataset_name),
        "subtitle": [
            html.Span(summary, className="me-2"),
            html.Code(job["id"], className="small user-select-all monitor-job-id"),
        ],
        "config": config_table(job, snap.dataset),
    }


def chart_options(
    job: Mapping[str, Any], smoothing: float | None, y_scale: str, x_axis: str, theme: str | None
) -> ChartOptions:
    """The chart controls' values and the theme as figure options for this job (anything
    unexpected falls back to the default)."""
    return {
        "smoothing": clamp_weight(float(smoothing or 0.0)),
        "log_y": y_scale == "log",
        "x_axis": "elapsed" if x_axis == "elapsed" else "step",
        "dark": theme == "dark",
        "steps_per_epoch": steps_per_epoch(dict(job)),
    }


def full_charts(
    snap: MonitorSnapshot, options: ChartOptions, shown_markers: Collection[str] | None = None
) -> tuple[dict[str, Any], RateWindow]:
    """Both figures from the downsampled history, the live state matching them, and the ETA window;
    the loss chart's lifecycle markers from the events (``shown_markers`` visible, default all)."""
    assert snap.metrics is not None, "a full render reads the metric history"
    smoothing, log_y, x_axis, dark, spe = (
        options["smoothing"],
        options["log_y"],
        options["x_axis"],
        options["dark"],
        options["steps_per_epoch"],
    )
    window = rate_window(snap.metrics)
    outputs = {
        "loss_figure": loss_figure(
            snap.metrics,
            smoothing=smoothing,
            log_y=log_y,
            x_axis=x_axis,
            steps_per_epoch=spe,
            dark=dark,
            markers=event_markers(snap.events, snap.job),
            started_at=snap.job.get("started_at"),
            shown_markers=shown_markers,
        ),
        "panels_figure": metric_panels_figure(snap.metrics, x_axis=x_axis, steps_per_epoch=spe, dark=dark),
        "eta_from": window[0][0] if window else None,
    }
    outputs["chart_state"], outputs["chart_options"] = split_state(live_chart_state(snap.metrics, **options))
    return outputs, window


def render_numbers(
    snap: MonitorSnapshot, state: Mapping[str, Any] | None, window: RateWindow, now: datetime
) -> MonitorNumbers:
    return monitor_numbers(
        snap.job,
        window,
        now,
        hourly_rate=snap.hourly_rate,
        best_validation=_point(state, "best"),
        latest_validation=_point(state, "latest_validation"),
    )


def tick_since_step(state: Mapping[str, Any], eta_from: int | None) -> int:
    """Where a tick reads from: the page's cursor, or earlier to re-read the ETA's window.

    Re-reading ~10 points from the database is cheaper than carrying the window in every
    response; the points the charts already have are dropped before the append.
    """
    cursor = -1 if state["last_step"] is None else state["last_step"]
    # since_step is exclusive and steps are integers: "> eta_from - 1" includes the window's first point
    return cursor if eta_from is None else min(cursor, int(eta_from) - 1)


def charts_match(stored: Mapping[str, Any], wanted: ChartOptions) -> bool:
    """Whether the drawn figures use the options the controls and the theme show now.

    When they differ, the user has just changed a control and the full render is on its way:
    a tick must not append to figures that are about to be replaced (its points would land in
    the new figure as duplicates), so it leaves the charts alone this once. ``steps_per_epoch``
    follows the job, not a control: it is not compared.
    """
    return (
        stored.get("smoothing") == wanted["smoothing"]
        and stored.get("log_y") == wanted["log_y"]
        and stored.get("x_axis") == wanted["x_axis"]
        and stored.get("dark", False) == wanted["dark"]
    )


def tick_values(
    snap: MonitorSnapshot,
    state: LiveChartState,
    eta_from: int | None,
    shown: ViewState | None,
    now: datetime,
    *,
    redrawing: bool = False,
) -> dict[str, Any]:
    """One poll: the new points as figure patches, and only the texts that changed.

    With ``redrawing`` (see ``charts_match``) only the texts are updated.
    """
    assert snap.metrics is not None, "a tick reads the points after the page's cursor"
    if redrawing:
        numbers = render_numbers(snap, state, rate_window(snap.metrics), now)
        return {**status_values(snap, numbers, now, shown), **dict.fromkeys(tick_chart_outputs(), no_update)}
    update = append_points_patch(points_after(snap.metrics, state["last_step"]), state)
    window = rate_window(snap.metrics)
    new_from = window[0][0] if window else eta_from
    numbers = render_numbers(snap, update.state, window, now)
    values = status_values(snap, numbers, now, shown)
    values.update(
        loss_figure=_with_event_markers(update.loss, snap, state, shown),
        panels_figure=update.panels,
        chart_state=split_state(update.state)[0] if update.state != state else no_update,
        eta_from=new_from if new_from != eta_from else no_update,
    )
    return values


def _with_event_markers(
    loss: Any, snap: MonitorSnapshot, state: LiveChartState, shown: ViewState | None
) -> Any:
    """The loss patch, plus the event markers redrawn when the activity log changed since the page
    last saw it (markers change rarely: a quiet tick sends none)."""
    if shown is not None and shown.get("events") == _view_state(snap.job, snap.events)["events"]:
        return loss
    patch = Patch() if loss is no_update else loss
    index = loss_trace_index()
    markers = event_markers(snap.events, snap.job)
    for kind in EVENT_KINDS:
        data = marker_xy(markers[kind], state["options"]["x_axis"], snap.job.get("started_at"))
        trace = patch["data"][index[marker_key(kind)]]
        trace["x"], trace["y"], trace["text"] = data["x"], data["y"], data["text"]
    return patch


def not_found_alert() -> dbc.Alert:
    """The same alert for a missing id, a malformed id and another user's job: it leaks nothing."""
    return dbc.Alert(
        [
            html.H2("Job not found", className="h5 alert-heading"),
            html.P("There is no training job with this id in your account.", className="mb-2"),
            dcc.Link("Back to your jobs", href="/training/jobs", className="alert-link"),
        ],
        color="warning",
        id="mon-not-found-alert",
    )


def load_failed_alert(reason: str) -> dbc.Alert:
    """The first view could not be read (the database did not answer): say so, never spin forever."""
    return dbc.Alert(
        [
            html.H2("Failed to load training job", className="h5 alert-heading"),
            html.P(f"{reason} Reload the page to try again.", className="mb-2"),
            dcc.Link("Back to your jobs", href="/training/jobs", className="alert-link"),
        ],
        color="danger",
        id="mon-load-failed-alert",
    )


def cancel_result(ok: bool, message: str) -> dbc.Alert:
    """What happened after the confirm button: success, or why the cancel was refused."""
    icon = "bi-check-circle" if ok else "bi-exclamation-triangle"
    return dbc.Alert(
        [html.I(className=f"bi {icon} me-2", **aria(hidden=True)), message],
        color="success" if ok else "danger",
        id="mon-cancel-alert",
        dismissable=True,
        className="py-2",
    )
