"""The monitor page's static skeleton: every component id exists from the first render.

Callbacks fill it (first load) and update it (each tick); nothing here touches the database, so
Dash can validate callbacks against it and the page shows a spinner until the first load lands.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.aria import aria
from components.charts import panel_rows
from pages.monitor import ids

DEFAULT_SMOOTHING = 0.6
CARD_SPECS: tuple[tuple[str, str, str], ...] = (
    ("training_loss", "Training loss", "bi-graph-down"),
    ("validation_loss", "Validation loss", "bi-clipboard-check"),
    ("throughput", "Throughput", "bi-speedometer2"),
    ("cost", "Cost spent", "bi-currency-dollar"),
    ("eta", "Time left", "bi-clock-history"),
)


def live_card(name: str, title: str, icon: str, caption: str = "") -> dbc.Card:
    """A KPI card (same look as ``components.job_view.metric_card``) whose texts have ids."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [html.I(className=f"bi {icon} metric-card__icon me-2", **aria(hidden=True)), title],
                    className="metric-card__title small text-body-secondary",
                ),
                html.Div("—", id=ids.card_value(name), className="metric-card__value"),
                html.Div(
                    caption,
                    id=ids.card_detail(name),
                    className="metric-card__subtitle small text-body-secondary",
                ),
            ]
        ),
        className="metric-card h-100",
    )


def _header() -> html.Div:
    back = dcc.Link(
        [html.I(className="bi bi-arrow-left me-1", **aria(hidden=True)), "All jobs"],
        href="/training/jobs",
        id=ids.BACK,
        className="btn btn-sm btn-outline-secondary mb-2",
    )
    cancel = html.Div(
        dbc.Button(
            [html.I(className="bi bi-stop-circle me-1", **aria(hidden=True)), "Cancel job"],
            id=ids.CANCEL_OPEN,
            color="danger",
            outline=True,
            size="sm",
        ),
        id=ids.CANCEL_WRAP,
        className="d-none",
    )
    return html.Div(
        [
            back,
            html.Div(
                [
                    html.Div(
                        [
                            html.H1(id=ids.TITLE, className="h3 mb-1 monitor-title"),
                            html.Div(
                                [html.Span(id=ids.BADGE, className="me-2"), html.Span(id=ids.SUBTITLE)],
                                className="d-flex flex-wrap align-items-center gap-1 small text-body-secondary",
                            ),
                        ],
                        className="me-auto",
                    ),
                    cancel,
                ],
                className="d-flex flex-wrap align-items-start gap-2",
            ),
        ],
        className="mb-3",
    )


def _cancel_modal() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Cancel this training job?")),
            dbc.ModalBody(
                "Training stops and the GPUs are released. You pay for the compute used so far; "
                "a cancelled job cannot be resumed."
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("Keep running", id=ids.CANCEL_DISMISS, color="secondary", outline=True),
                    dbc.Button("Cancel job", id=ids.CANCEL_CONFIRM, color="danger"),
                ]
            ),
        ],
        id=ids.CANCEL_MODAL,
        is_open=False,
        centered=True,
    )


def _toggle(component_id: str, label: str, choices: list[tuple[str, str]], value: str) -> html.Div:
    """A small segmented button group (radio inputs underneath, so keyboard and screen readers work)."""
    return html.Div(
        dbc.RadioItems(
            id=component_id,
            options=[{"label": text, "value": choice} for text, choice in choices],
            value=value,
            inline=True,
            className="btn-group btn-group-sm",
            inputClassName="btn-check",
            labelClassName="btn btn-outline-secondary",
            labelCheckedClassName="active",
        ),
        role="group",
        className="monitor-control",
        **aria(label),
    )


def _chart_controls() -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    dbc.Label("Smoothing", html_for=ids.SMOOTHING, className="small mb-0 me-2"),
                    html.Div(
                        dcc.Slider(
                            id=ids.SMOOTHING,
                            min=0,
                            max=0.99,
                            step=0.01,
                            value=DEFAULT_SMOOTHING,
                            marks={0: "0", 0.5: "0.5", 0.99: "0.99"},
                            tooltip={"placement": "bottom", "always_visible": False},
                            updatemode="mouseup",
                        ),
                        className="monitor-slider",
                    ),
                ],
                className="d-flex align-items-center monitor-control",
            ),
            _toggle(ids.Y_SCALE, "Loss axis scale", [("Linear", "linear"), ("Log", "log")], "linear"),
            _toggle(ids.X_AXIS, "Horizontal axis", [("Step", "step"), ("Elapsed time", "elapsed")], "step"),
        ],
        className="d-flex flex-wrap align-items-center gap-3 mb-2",
    )


def _sized_graph(graph_id: str, size_class: str, style: dict[str, str] | None = None) -> html.Div:
    """A responsive graph filling a box whose height comes from ``assets/monitor.css``.

    A responsive ``dcc.Graph`` sets ``height: 100%`` inline on itself, which beats any CSS height
    on its own class; with a parent of auto height that 100% means nothing. The first draw then
    falls back to Plotly's 450 px, but every ``Plotly.react`` after a tick sizes the plot to its
    collapsed (0 px) container and the card clips the chart. The wrapper gives 100% a definite
    height, so first draw, ticks and resizes all measure the same box.
    """
    return html.Div(
        dcc.Graph(id=graph_id, config={"displaylogo": False, "responsive": True}, style={"height": "100%"}),
        className=f"monitor-graph {size_class}",
        style=style,
    )


def _loss_tab() -> html.Div:
    return html.Div(
        [
            _chart_controls(),
            dbc.Card(
                dbc.CardBody(
                    _sized_graph(ids.LOSS_GRAPH, "monitor-graph--loss"),
                    className="p-1",
                ),
                className="mb-3",
            ),
            html.H2("System", className="h6 text-body-secondary text-uppercase"),
            dbc.Card(
                dbc.CardBody(
                    # The CSS height is per row of panels; the catalogue decides how many rows.
                    _sized_graph(
                        ids.PANELS_GRAPH, "monitor-graph--panels", {"--panel-rows": str(panel_rows())}
                    ),
                    className="p-1",
                )
            ),
        ],
        className="pt-3",
    )


def _progress() -> html.Div:
    """Same look as ``components.job_view.progress_bar``, with ids so a tick sends only values."""
    return html.Div(
        [
            dbc.Progress(id=ids.PROGRESS_BAR, value=0, label="0%", className="monitor-progress"),
            html.Div(
                [html.Span(id=ids.PROGRESS_EPOCH), html.Span(id=ids.PROGRESS_STEP)],
                className="d-flex justify-content-between small text-body-secondary mt-1",
            ),
        ],
        id=ids.PROGRESS,
        className="mb-3",
    )


def skeleton(job_id: str | None, poll_seconds: float) -> html.Div:
    """The whole page before data: stores, the (disabled) interval, spinner, hidden body."""
    cards = dbc.Row(
        [
            dbc.Col(
                live_card(*spec, caption="" if spec[0] in ids.LIVE_DETAILS else "latest reported"),
                xs=6,
                md=4,
                xl=True,
            )
            for spec in CARD_SPECS
        ],
        className="g-2 mb-3 monitor-cards",
    )
    body = html.Div(
        [
            _header(),
            _cancel_modal(),
            html.Div(id=ids.CANCEL_RESULT, **aria(live="polite")),
            _progress(),
            cards,
            dbc.Tabs(
                [
                    dbc.Tab(_loss_tab(), label="Loss Curves", tab_id=ids.TAB_LOSS),
                    dbc.Tab(
                        html.Div(id=ids.CONFIG, className="pt-3"),
                        label="Configuration",
                        tab_id=ids.TAB_CONFIG,
                    ),
                    dbc.Tab(
                        html.Div(id=ids.ACTIVITY, className="pt-3"),
                        label="Activity Log",
                        tab_id=ids.TAB_ACTIVITY,
                    ),
                ],
                id=ids.TABS,
                active_tab=ids.TAB_LOSS,
            ),
        ],
        id=ids.BODY,
        className="d-none",
    )
    return html.Div(
        [
            dcc.Store(id=ids.JOB_ID, data=job_id),
            dcc.Store(id=ids.CHART_STATE),
            dcc.Store(id=ids.CHART_OPTIONS),
            dcc.Store(id=ids.ETA_FROM),
            dcc.Store(id=ids.VIEW_STATE),
            dcc.Store(id=ids.CHART_PATCH),
            dcc.Interval(id=ids.INTERVAL, interval=int(poll_seconds * 1000), disabled=True),
            html.Div(
                [dbc.Spinner(color="primary", spinner_class_name="me-2"), "Loading job…"],
                id=ids.LOADING,
                className="d-flex align-items-center justify-content-center py-5 text-body-secondary",
                role="status",
            ),
            html.Div(id=ids.NOT_FOUND),
            body,
        ],
        className="job-monitor",
    )


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
