"""The monitor page's component ids, in one place (STYLE.md rule 2), and its static skeleton: every
id exists from the first render.

Callbacks fill the skeleton (first load) and update it (each tick); nothing here touches the
database, so Dash can validate callbacks against it and the page shows a spinner until the first
load lands. Ids are prefixed ``mon-`` because Dash validates all pages' layouts together: they must
be unique app-wide.
"""

from __future__ import annotations

from urllib.parse import quote

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.aria import aria
from components.chart_controls import DEFAULT_SMOOTHING, segmented, smoothing_slider, y_scale_toggle
from components.chart_markers import MARKER_KINDS
from components.charts import loss_trace_index, panel_rows

JOB_ID = "mon-job-id"  # dcc.Store: the job id from the URL
CHART_STATE = "mon-chart-state"  # dcc.Store: LiveChartState without its options (they change per render)
CHART_OPTIONS = "mon-chart-opts"  # dcc.Store: LiveChartState["options"], written by the full render only
ETA_FROM = "mon-eta-from"  # dcc.Store: first step of the ETA window (a tick re-reads from there)
VIEW_STATE = "mon-view-state"  # dcc.Store: {status, events_seen} to send only what changed
INTERVAL = "mon-interval"

LOADING = "mon-loading"
NOT_FOUND = "mon-not-found"
BODY = "mon-body"

BACK = "mon-back"
TITLE = "mon-title"
SUBTITLE = "mon-subtitle"
BADGE = "mon-badge"
CANCEL_WRAP = "mon-cancel-wrap"
CANCEL_OPEN = "mon-cancel-open"
CANCEL_MODAL = "mon-cancel-modal"
CANCEL_CONFIRM = "mon-cancel-confirm"
CANCEL_DISMISS = "mon-cancel-dismiss"
CANCEL_RESULT = "mon-cancel-result"
CLONE = "mon-clone"  # opens the configure page filled with this job's settings
RETRY = "mon-retry"  # the same, shown on a failed job only
STOP_ALERT = "mon-stop"  # why a failed or cancelled job stopped, above the tabs
HEALTH = "mon-health"  # fired run-health checks with "Stop now" (pages/monitor/health.py)
PROGRESS = "mon-progress"
ARTIFACT = (
    "mon-artifact"  # the trained adapter's card, filled once the job completed (pages/monitor/artifact.py)
)

TABS = "mon-tabs"
TAB_LOSS = "tab-loss"
TAB_CONFIG = "tab-config"
TAB_ACTIVITY = "tab-activity"
CONFIG = "mon-config"
ACTIVITY = "mon-activity"

LOSS_GRAPH = "mon-loss-graph"
PANELS_GRAPH = "mon-panels-graph"
SMOOTHING = "mon-smoothing"
Y_SCALE = "mon-y-scale"
X_AXIS = "mon-x-axis"
MARKERS = "mon-markers"  # which lifecycle markers the loss chart shows (toggled in the browser)
MARKER_TRACES = "mon-marker-traces"  # dcc.Store: {kind: trace index} for the browser's toggle

# The parts a tick rewrites get short ids: each id is repeated in every tick response (5 KB budget).
PROGRESS_BAR = "mon-pbar"  # dbc.Progress (value, label; colour/stripes on status change)
PROGRESS_EPOCH = "mon-pep"  # "Epoch x / y"
PROGRESS_STEP = "mon-pst"  # "Step a / b"

# Card slots: value and detail text per card, keyed like components.monitor_numbers.MonitorNumbers.
CARDS: dict[str, str] = {
    "training_loss": "mon-tl",
    "validation_loss": "mon-vl",
    "throughput": "mon-tp",
    "cost": "mon-co",
    "eta": "mon-eta",
}


# Cards whose detail line changes while the job runs (the others have a fixed caption).
LIVE_DETAILS = ("validation_loss", "throughput", "cost", "eta")


def card_value(name: str) -> str:
    return CARDS[name]


def card_detail(name: str) -> str:
    return f"{CARDS[name]}-d"


CARD_SPECS: tuple[tuple[str, str, str], ...] = (
    ("training_loss", "Training loss", "bi-graph-down"),
    ("validation_loss", "Validation loss", "bi-clipboard-check"),
    ("throughput", "Throughput", "bi-speedometer2"),
    ("cost", "Cost spent", "bi-currency-dollar"),
    ("eta", "Time left", "bi-clock-history"),
)


def live_card(name: str, title: str, icon: str, caption: str = "") -> dbc.Card:
    """A KPI card: icon and title, the value, and a detail line; a tick rewrites the texts by id."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [html.I(className=f"bi {icon} metric-card__icon me-2", **aria(hidden=True)), title],
                    className="metric-card__title small text-body-secondary",
                ),
                html.Div("—", id=card_value(name), className="metric-card__value"),
                html.Div(
                    caption,
                    id=card_detail(name),
                    className="metric-card__subtitle small text-body-secondary",
                ),
            ]
        ),
        className="metric-card h-100",
    )


def _copy_links(job_id: str | None) -> list[dcc.Link]:
    """Clone (any job) and Retry (failed jobs: the status callbacks unhide it): both open the
    configure page filled from this job (`?from=`, owner-only)."""
    href = f"/training/configure?from={quote(job_id or '', safe='')}"
    return [
        dcc.Link(
            [html.I(className="bi bi-arrow-repeat me-1", **aria(hidden=True)), "Retry"],
            href=href,
            id=RETRY,
            className="btn btn-sm btn-primary d-none",
        ),
        dcc.Link(
            [html.I(className="bi bi-copy me-1", **aria(hidden=True)), "Clone"],
            href=href,
            id=CLONE,
            className="btn btn-sm btn-outline-secondary",
        ),
    ]


def _header(job_id: str | None) -> html.Div:
    back = dcc.Link(
        [html.I(className="bi bi-arrow-left me-1", **aria(hidden=True)), "All jobs"],
        href="/training/jobs",
        id=BACK,
        className="btn btn-sm btn-outline-secondary mb-2",
    )
    cancel = html.Div(
        dbc.Button(
            [html.I(className="bi bi-stop-circle me-1", **aria(hidden=True)), "Cancel job"],
            id=CANCEL_OPEN,
            color="danger",
            outline=True,
            size="sm",
        ),
        id=CANCEL_WRAP,
        className="d-none",
    )
    return html.Div(
        [
            back,
            html.Div(
                [
                    html.Div(
                        [
                            html.H1(id=TITLE, className="h3 mb-1 monitor-title"),
                            html.Div(
                                [html.Span(id=BADGE, className="me-2"), html.Span(id=SUBTITLE)],
                                className="d-flex flex-wrap align-items-center gap-1 small text-body-secondary",
                            ),
                        ],
                        className="me-auto",
                    ),
                    *_copy_links(job_id),
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
                    dbc.Button("Keep running", id=CANCEL_DISMISS, color="secondary", outline=True),
                    dbc.Button("Cancel job", id=CANCEL_CONFIRM, color="danger"),
                ]
            ),
        ],
        id=CANCEL_MODAL,
        is_open=False,
        centered=True,
    )


def _chart_controls() -> html.Div:
    return html.Div(
        [
            smoothing_slider(SMOOTHING, DEFAULT_SMOOTHING),
            y_scale_toggle(Y_SCALE),
            segmented(X_AXIS, "Horizontal axis", [("Step", "step"), ("Elapsed time", "elapsed")], "step"),
            html.Div(
                dbc.Checklist(
                    id=MARKERS,
                    options=[{"label": look.label, "value": kind} for kind, look in MARKER_KINDS.items()],
                    value=list(MARKER_KINDS),
                    inline=True,
                    switch=True,
                    className="small",
                ),
                role="group",
                className="monitor-control monitor-markers",
                **aria("Markers on the loss chart"),
            ),
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
                    _sized_graph(LOSS_GRAPH, "monitor-graph--loss"),
                    className="p-1",
                ),
                className="mb-3",
            ),
            html.H2("System", className="h6 text-body-secondary text-uppercase"),
            dbc.Card(
                dbc.CardBody(
                    # The CSS height is per row of panels; the catalogue decides how many rows.
                    _sized_graph(PANELS_GRAPH, "monitor-graph--panels", {"--panel-rows": str(panel_rows())}),
                    className="p-1",
                )
            ),
        ],
        className="pt-3",
    )


def _progress() -> html.Div:
    """Percent bar with epoch and step counters, with ids so a tick sends only values."""
    return html.Div(
        [
            dbc.Progress(id=PROGRESS_BAR, value=0, label="0%", className="monitor-progress"),
            html.Div(
                [html.Span(id=PROGRESS_EPOCH), html.Span(id=PROGRESS_STEP)],
                className="d-flex justify-content-between small text-body-secondary mt-1",
            ),
        ],
        id=PROGRESS,
        className="mb-3",
    )


def skeleton(job_id: str | None, poll_seconds: float) -> html.Div:
    """The whole page before data: stores, the (disabled) interval, spinner, hidden body."""
    cards = dbc.Row(
        [
            dbc.Col(
                live_card(*spec, caption="" if spec[0] in LIVE_DETAILS else "latest reported"),
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
            _header(job_id),
            _cancel_modal(),
            html.Div(id=CANCEL_RESULT, **aria(live="polite")),
            html.Div(id=STOP_ALERT),
            html.Div(id=HEALTH, **aria(live="polite")),
            _progress(),
            html.Div(id=ARTIFACT),
            cards,
            dbc.Tabs(
                [
                    dbc.Tab(_loss_tab(), label="Loss Curves", tab_id=TAB_LOSS),
                    dbc.Tab(
                        html.Div(id=CONFIG, className="pt-3"),
                        label="Configuration",
                        tab_id=TAB_CONFIG,
                    ),
                    dbc.Tab(
                        html.Div(id=ACTIVITY, className="pt-3"),
                        label="Activity Log",
                        tab_id=TAB_ACTIVITY,
                    ),
                ],
                id=TABS,
                active_tab=TAB_LOSS,
            ),
        ],
        id=BODY,
        className="d-none",
    )
    return html.Div(
        [
            dcc.Store(id=JOB_ID, data=job_id),
            dcc.Store(id=CHART_STATE),
            dcc.Store(id=CHART_OPTIONS),
            dcc.Store(id=ETA_FROM),
            dcc.Store(id=VIEW_STATE),
            dcc.Store(
                id=MARKER_TRACES,
                data={k: i for k, i in loss_trace_index().items() if k.startswith("marker_")},
            ),
            dcc.Interval(id=INTERVAL, interval=int(poll_seconds * 1000), disabled=True),
            html.Div(
                [dbc.Spinner(color="primary", spinner_class_name="me-2"), "Loading job…"],
                id=LOADING,
                className="d-flex align-items-center justify-content-center py-5 text-body-secondary",
                role="status",
            ),
            html.Div(id=NOT_FOUND),
            body,
        ],
        className="job-monitor",
    )
