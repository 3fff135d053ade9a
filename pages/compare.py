"""`/training/compare?jobs=<id>,<id>,...`: up to 10 of the user's jobs side by side.

One data callback reads the comparison (pages/_compare_data.py) on load, on a control change and
on each tick of the page's one interval; a tick whose jobs did not move (same statuses, steps and
costs) answers ``no_update`` for everything, and the interval stops once every job is terminal.
Figures and tables come from components/compare_view.py.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from api.runtime import ui_poll_seconds
from components.aria import aria
from components.chart_controls import DEFAULT_SMOOTHING, segmented, smoothing_slider, y_scale_toggle
from components.compare_view import X_AXIS_CHOICES, CompareAxis, compare_figure, outcome_table, settings_table
from components.smoothing import clamp_weight
from pages._compare_data import read_comparison, signature

dash.register_page(__name__, path="/training/compare", name="Compare jobs", title="Compare jobs · PIPELINE")

IDS = "cmp-ids"  # dcc.Store: the ?jobs= text, as given
SHOWN = "cmp-shown"  # dcc.Store: signature of what is drawn (pages/_compare_data.signature)
INTERVAL = "cmp-interval"
PROBLEM = "cmp-problem"
BODY = "cmp-body"
GRAPH = "cmp-graph"
OUTCOMES = "cmp-outcomes"
SETTINGS = "cmp-settings"
SMOOTHING = "cmp-smoothing"
Y_SCALE = "cmp-y-scale"
X_AXIS = "cmp-x-axis"
LIVE = "cmp-live"


def layout(jobs: str | None = None, **_query: str) -> html.Div:
    controls = html.Div(
        [
            smoothing_slider(SMOOTHING, DEFAULT_SMOOTHING),
            y_scale_toggle(Y_SCALE),
            segmented(X_AXIS, "Horizontal axis", X_AXIS_CHOICES, "step"),
        ],
        className="d-flex flex-wrap align-items-center gap-3 mb-2",
    )
    graph = dcc.Graph(id=GRAPH, config={"displaylogo": False, "responsive": True}, style={"height": "100%"})
    body = html.Div(
        [
            controls,
            dbc.Card(
                dbc.CardBody(html.Div(graph, className="monitor-graph monitor-graph--loss"), className="p-1"),
                className="mb-3",
            ),
            html.H2("Outcome", className="h6 text-body-secondary text-uppercase"),
            dbc.Card(dbc.CardBody(id=OUTCOMES, className="p-0"), className="mb-3"),
            html.H2("Settings", className="h6 text-body-secondary text-uppercase"),
            html.P("Highlighted rows differ between the jobs.", className="small text-body-secondary mb-1"),
            dbc.Card(dbc.CardBody(id=SETTINGS, className="p-0")),
        ],
        id=BODY,
        className="d-none",
    )
    return html.Div(
        [
            dcc.Store(id=IDS, data=jobs if isinstance(jobs, str) else None),
            dcc.Store(id=SHOWN),
            dcc.Interval(id=INTERVAL, interval=int(ui_poll_seconds() * 1000), disabled=True),
            html.Div(
                [
                    dcc.Link(
                        [html.I(className="bi bi-arrow-left me-1", **aria(hidden=True)), "All jobs"],
                        href="/training/jobs",
                        className="btn btn-sm btn-outline-secondary mb-2",
                    ),
                    html.Div(
                        [
                            html.H1("Compare jobs", className="h3 mb-0 me-auto"),
                            html.Span(id=LIVE, className="small text-body-secondary", **aria(live="polite")),
                        ],
                        className="d-flex align-items-center",
                    ),
                ],
                className="mb-3",
            ),
            html.Div(id=PROBLEM),
            body,
        ],
        className="compare-page",
    )


@callback(
    output={
        "figure": Output(GRAPH, "figure"),
        "outcomes": Output(OUTCOMES, "children"),
        "settings": Output(SETTINGS, "children"),
        "problem": Output(PROBLEM, "children"),
        "body": Output(BODY, "className"),
        "interval_disabled": Output(INTERVAL, "disabled"),
        "shown": Output(SHOWN, "data"),
        "live": Output(LIVE, "children"),
    },
    inputs={
        "raw_ids": Input(IDS, "data"),
        "smoothing": Input(SMOOTHING, "value"),
        "y_scale": Input(Y_SCALE, "value"),
        "x_axis": Input(X_AXIS, "value"),
        "theme": Input("theme-store", "data"),
        "_ticks": Input(INTERVAL, "n_intervals"),
    },
    state={"shown": State(SHOWN, "data")},
)
def render(
    raw_ids: str | None,
    smoothing: float | None,
    y_scale: str,
    x_axis: str,
    theme: str | None,
    _ticks: int | None,
    shown: list[Any] | None,
) -> dict[str, Any]:
    """The comparison, or the one message saying why there is none; a quiet tick sends nothing."""
    read = read_comparison(raw_ids)
    if read.data is None:
        alert = dbc.Alert(read.problem, color="warning", id="cmp-problem-alert")
        return {
            "figure": no_update,
            "outcomes": None,
            "settings": None,
            "problem": alert,
            "body": "d-none",
            "interval_disabled": True,
            "shown": None,
            "live": "",
        }
    data = read.data
    now_shown = signature(data)
    done = data["all_terminal"]
    if ctx.triggered_id == INTERVAL and now_shown == shown:
        return {
            **dict.fromkeys(
                ("figure", "outcomes", "settings", "problem", "body", "live", "shown"), no_update
            ),
            "interval_disabled": done,
        }
    axis: CompareAxis = x_axis if x_axis in ("progress", "elapsed") else "step"  # type: ignore[assignment]
    figure = compare_figure(
        data["jobs"],
        smoothing=clamp_weight(float(smoothing or 0.0)),
        log_y=y_scale == "log",
        x_axis=axis,
        dark=theme == "dark",
    )
    return {
        "figure": figure,
        "outcomes": outcome_table(data["jobs"]),
        "settings": settings_table(data["jobs"], data["settings"]),
        "problem": None,
        "body": "",
        "interval_disabled": done,
        "shown": now_shown,
        "live": "" if done else "updating live",
    }
