"""`/training/jobs/<job_id>`: the live training monitor.

Three thin data callbacks, `render`, `tick` and `confirm_cancel`; they read through ``data`` and
build in ``views`` (docs/architecture.md §8).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, ctx, no_update
from sqlalchemy.exc import SQLAlchemyError

from api.runtime import ui_poll_seconds
from components.health_view import STOP_NOW
from pages.monitor.artifact import show_artifact
from pages.monitor.data import cancel_shown_job, read_job
from pages.monitor.health import show_health, stop_from_warning
from pages.monitor.layout import (
    ARTIFACT,
    BODY,
    CANCEL_CONFIRM,
    CANCEL_DISMISS,
    CANCEL_MODAL,
    CANCEL_OPEN,
    CANCEL_RESULT,
    CHART_OPTIONS,
    CHART_STATE,
    CONFIG,
    ETA_FROM,
    HEALTH,
    INTERVAL,
    JOB_ID,
    LOADING,
    LOSS_GRAPH,
    MARKER_TRACES,
    MARKERS,
    NOT_FOUND,
    SMOOTHING,
    SUBTITLE,
    TITLE,
    VIEW_STATE,
    X_AXIS,
    Y_SCALE,
    skeleton,
)
from pages.monitor.views import (
    HIDDEN,
    ViewState,
    cancel_result,
    chart_options,
    chart_outputs,
    charts_match,
    full_charts,
    header_values,
    join_state,
    load_failed_alert,
    not_found_alert,
    render_numbers,
    status_outputs,
    status_values,
    tick_chart_outputs,
    tick_since_step,
    tick_values,
)

dash.register_page(
    __name__,
    path_template="/training/jobs/<job_id>",
    title="Training job · PIPELINE",  # never the job's name: a wrong id must leak nothing
    name="Job monitor",
)


def layout(job_id: str | None = None, **_query: str) -> Any:
    return skeleton(job_id, ui_poll_seconds())


def _now() -> datetime:
    return datetime.now(UTC)


logger = logging.getLogger(__name__)

_PAGE_OUTPUTS = {
    "loading": dash.Output(LOADING, "className"),
    "not_found": dash.Output(NOT_FOUND, "children"),
    "body": dash.Output(BODY, "className"),
    "title": dash.Output(TITLE, "children"),
    "subtitle": dash.Output(SUBTITLE, "children"),
    "config": dash.Output(CONFIG, "children"),
}


@callback(
    output={**_PAGE_OUTPUTS, **status_outputs(False), **chart_outputs()},
    inputs={
        "job_id": Input(JOB_ID, "data"),
        "smoothing": Input(SMOOTHING, "value"),
        "y_scale": Input(Y_SCALE, "value"),
        "x_axis": Input(X_AXIS, "value"),
        "theme": Input("theme-store", "data"),
    },
    state={"markers": State(MARKERS, "value")},
)
def render(
    job_id: str | None,
    smoothing: float | None,
    y_scale: str,
    x_axis: str,
    theme: str | None,
    markers: list[str] | None = None,
) -> dict[str, Any]:
    """The whole page for the signed-in user's job, or the not-found alert (nothing else)."""
    outputs = {**_PAGE_OUTPUTS, **status_outputs(False), **chart_outputs()}
    try:
        snap = read_job(job_id, with_dataset=True)
    except SQLAlchemyError:
        logger.exception("monitor: reading job %s failed", job_id)
        failed = load_failed_alert("The database did not answer.")
        return _only_alert(outputs, failed)
    if snap is None:
        return _only_alert(outputs, not_found_alert())
    now = _now()
    options = chart_options(snap.job, smoothing, y_scale, x_axis, theme)
    charts, window = full_charts(snap, options, markers if isinstance(markers, list) else None)
    numbers = render_numbers(snap, charts["chart_state"], window, now)
    return {
        "loading": HIDDEN,
        "not_found": None,
        "body": "",
        **header_values(snap, now),
        **status_values(snap, numbers, now),
        **charts,
    }


callback(Output(ARTIFACT, "children"), Input(VIEW_STATE, "data"), State(JOB_ID, "data"))(show_artifact)
callback(Output(HEALTH, "children"), Input(VIEW_STATE, "data"), State(JOB_ID, "data"))(show_health)
callback(
    Output(HEALTH, "children", allow_duplicate=True),
    Input({"type": STOP_NOW, "check": ALL}, "n_clicks"),
    State(JOB_ID, "data"),
    prevent_initial_call=True,
)(stop_from_warning)


def _only_alert(outputs: dict[str, Any], alert: Any) -> dict[str, Any]:
    """The page reduced to one alert in place of the job: nothing else drawn, nothing polled."""
    values: dict[str, Any] = dict.fromkeys(outputs, no_update)
    values.update(loading=HIDDEN, not_found=alert, body=HIDDEN, interval_disabled=True)
    return values


@callback(
    output={**status_outputs(True), **tick_chart_outputs()},
    inputs={"_ticks": Input(INTERVAL, "n_intervals")},
    state={
        "job_id": State(JOB_ID, "data"),
        "chart_state": State(CHART_STATE, "data"),
        "stored_options": State(CHART_OPTIONS, "data"),
        "eta_from": State(ETA_FROM, "data"),
        "shown": State(VIEW_STATE, "data"),
        "smoothing": State(SMOOTHING, "value"),
        "y_scale": State(Y_SCALE, "value"),
        "x_axis": State(X_AXIS, "value"),
        "theme": State("theme-store", "data"),
    },
    prevent_initial_call=True,
)
def tick(
    _ticks: int,
    job_id: str | None,
    chart_state: dict[str, Any] | None,
    stored_options: dict[str, Any] | None,
    eta_from: int | None,
    shown: ViewState | None,
    smoothing: float | None,
    y_scale: str,
    x_axis: str,
    theme: str | None,
) -> dict[str, Any]:
    """New points since the page's cursor and the job's current numbers; stops when terminal."""
    outputs = {**status_outputs(True), **tick_chart_outputs()}
    if chart_state is None or stored_options is None:  # the first render has not landed yet
        return dict.fromkeys(outputs, no_update)
    state = join_state(chart_state, stored_options)
    snap = read_job(job_id, since_step=tick_since_step(state, eta_from))
    if snap is None:  # deleted or signed out mid-watch: stop polling, keep what is shown
        return {**dict.fromkeys(outputs, no_update), "interval_disabled": True}
    wanted = chart_options(snap.job, smoothing, y_scale, x_axis, theme)
    redrawing = not charts_match(stored_options, wanted)
    return tick_values(snap, state, eta_from, shown, _now(), redrawing=redrawing)


# Shows or hides the lifecycle markers in the browser: no request (assets/monitor_patch.js).
dash.clientside_callback(
    dash.ClientsideFunction(namespace="monitor", function_name="showMarkers"),
    dash.Output(LOSS_GRAPH, "figure", allow_duplicate=True),
    Input(MARKERS, "value"),
    dash.State(MARKER_TRACES, "data"),
    prevent_initial_call=True,
)


@callback(
    dash.Output(CANCEL_MODAL, "is_open"),
    Input(CANCEL_OPEN, "n_clicks"),
    Input(CANCEL_DISMISS, "n_clicks"),
    prevent_initial_call=True,
)
def toggle_cancel_modal(_open: int | None, _dismiss: int | None) -> bool:
    return ctx.triggered_id == CANCEL_OPEN


@callback(
    output={
        "modal_open": dash.Output(CANCEL_MODAL, "is_open", allow_duplicate=True),
        "result": dash.Output(CANCEL_RESULT, "children"),
        **status_outputs(True),
    },
    inputs={"_clicks": Input(CANCEL_CONFIRM, "n_clicks")},
    state={
        "job_id": State(JOB_ID, "data"),
        "chart_state": State(CHART_STATE, "data"),
        "shown": State(VIEW_STATE, "data"),
    },
    prevent_initial_call=True,
)
def confirm_cancel(
    _clicks: int | None, job_id: str, chart_state: dict[str, Any] | None, shown: ViewState | None
) -> dict[str, Any]:
    """Cancel through the shared state machine, say what happened, and show the new state.

    The interval keeps running for one more tick (``views._interval_disabled``): it draws the
    points stored since the last tick, up to the final step, and then stops.
    """
    outcome = cancel_shown_job(job_id)
    snap = read_job(job_id, with_metrics=False)
    values: dict[str, Any] = dict.fromkeys(status_outputs(True), no_update)
    if snap is not None:
        now = _now()
        values = status_values(snap, render_numbers(snap, chart_state, [], now), now, shown)
    return {**values, "modal_open": False, "result": cancel_result(outcome.ok, outcome.message)}
