"""`/account/webhooks`: the signed-in user's outgoing webhooks: add one (its secret shown once), list,
delete, send a test, and read a webhook's delivery log. The same service functions as /api/webhooks."""

from __future__ import annotations

import contextlib
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html

from api.compression import keep_uncompressed
from api.runtime import ui_poll_seconds
from components.webhook_view import DELETE_TYPE, LOG_TYPE, TEST_TYPE, delivery_log, webhooks_table
from db.base import utcnow
from pages._signed_in import require_user_id, signed_in_user_id
from pages._webhooks_data import add_webhook, remove_webhook, send_test, user_webhooks, webhook_log
from services.errors import ServiceError
from services.webhooks import MAX_NAME_LENGTH, WEBHOOK_EVENTS

PATH = "/account/webhooks"
dash.register_page(__name__, path=PATH, name="Webhooks", title="Webhooks · PIPELINE", nav_order=6)

NAME = "webhook-name"
URL = "webhook-url"
EVENTS = "webhook-events"
FORMAT = "webhook-format"
CREATE = "webhook-create"
CREATED = "webhook-created"
TABLE = "webhooks-list"
LOG = "webhook-log"
SELECTED = "webhook-selected"
WATCH = "webhook-watch"
POLL = "webhook-log-poll"
MAX_POLLS = 60  # the log stops refreshing after this many ticks without the watched attempt


def _table(user_id: int) -> Any:
    return webhooks_table(user_webhooks(user_id), WEBHOOK_EVENTS)


def _form() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2("New webhook", className="h6"),
                dbc.Row(
                    [
                        dbc.Col(
                            [dbc.Label("Name", html_for=NAME), dbc.Input(id=NAME, maxLength=MAX_NAME_LENGTH)],
                            md=4,
                        ),
                        dbc.Col(
                            [
                                dbc.Label("URL", html_for=URL),
                                dbc.Input(
                                    id=URL, type="url", placeholder="https://hooks.example.com/pipeline"
                                ),
                            ],
                            md=8,
                        ),
                    ],
                    className="g-2",
                ),
                dbc.Label("Events", html_for=EVENTS, className="mt-2"),
                dbc.Checklist(
                    id=EVENTS,
                    options=[{"label": label, "value": event} for event, label in WEBHOOK_EVENTS.items()],
                    value=["job_completed", "job_failed"],
                    inline=True,
                ),
                dbc.Label("Body", html_for=FORMAT, className="mt-2"),
                dbc.RadioItems(
                    id=FORMAT,
                    options=[
                        {"label": "PIPELINE JSON (signed)", "value": "json"},
                        {"label": 'Slack-compatible {"text": ...}', "value": "slack"},
                    ],
                    value="json",
                    inline=True,
                ),
                html.Button("Add webhook", id=CREATE, type="button", className="btn btn-primary mt-2"),
                html.Div(id=CREATED, className="mt-3"),
            ]
        ),
        className="mb-3",
    )


def layout(**_query: str) -> html.Div:
    user_id = signed_in_user_id()
    return html.Div(
        [
            html.H1("Webhooks", className="h3"),
            html.P(
                "PIPELINE POSTs the events you choose to your URL, signed with the webhook's secret "
                "(X-Pipeline-Signature, as docs/api.md describes). Failed deliveries are retried.",
                className="text-body-secondary small",
            ),
            _form(),
            html.Div(_table(user_id) if user_id is not None else None, id=TABLE),
            html.Div(id=LOG),
            dcc.Store(id=SELECTED),
            dcc.Store(id=WATCH),
            dcc.Interval(id=POLL, interval=int(ui_poll_seconds() * 1000), disabled=True, max_intervals=-1),
        ],
        className="webhooks-page",
    )


@callback(
    Output(TABLE, "children"),
    Output(CREATED, "children"),
    Output(URL, "value"),
    Output(NAME, "value"),
    Input(CREATE, "n_clicks"),
    State(NAME, "value"),
    State(URL, "value"),
    State(EVENTS, "value"),
    State(FORMAT, "value"),
    prevent_initial_call=True,
)
def create(
    n_clicks: int | None, name: object, url: object, events: object, body_format: object
) -> tuple[Any, Any, Any, Any]:
    """Save a webhook and show its secret once (the form is cleared); a refused URL or field is
    explained in words and the form keeps what was typed."""
    if not n_clicks:
        return dash.no_update, dash.no_update, dash.no_update, dash.no_update
    user_id = require_user_id()
    try:
        secret = add_webhook(user_id, url=url or "", events=events or [], body_format=body_format, name=name)
    except ServiceError as exc:
        details = exc.details if isinstance(exc.details, dict) else {"": exc.details}
        lines = [html.Div(f"{field}: {why}" if field else str(why)) for field, why in details.items()]
        alert = dbc.Alert(lines, color="danger", className="mb-0 small", id="webhook-error")
        return dash.no_update, alert, dash.no_update, dash.no_update
    keep_uncompressed()  # the secret beside the URL and name typed: never compressed (BREACH)
    shown = dbc.Alert(
        [
            html.Div("Webhook added. Copy its signing secret now: it is shown only this once."),
            html.Code(secret, id="webhook-secret", className="user-select-all"),
        ],
        color="success",
        className="mb-0 small",
    )
    return _table(user_id), shown, "", ""


def _clicked_id() -> int | None:
    """The webhook id of the clicked row button; None for a re-render (no click) or a crafted id."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        return None
    webhook_id = trigger.get("id")
    if not isinstance(webhook_id, int) or isinstance(webhook_id, bool) or not 0 < webhook_id < 2**63:
        return None
    return webhook_id


@callback(
    Output(TABLE, "children", allow_duplicate=True),
    Output(SELECTED, "data", allow_duplicate=True),
    Input({"type": DELETE_TYPE, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def delete_clicked(_clicks: list[int | None]) -> tuple[Any, Any]:
    webhook_id = _clicked_id()
    if webhook_id is None:
        return dash.no_update, dash.no_update
    user_id = require_user_id()
    with contextlib.suppress(ServiceError):  # already gone (another tab): the fresh table says so
        remove_webhook(user_id, webhook_id)
    return _table(user_id), None


@callback(
    Output(SELECTED, "data", allow_duplicate=True),
    Output(WATCH, "data"),
    Output(POLL, "disabled"),
    Output(POLL, "n_intervals"),
    Input({"type": TEST_TYPE, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def send_test_clicked(_clicks: list[int | None]) -> tuple[Any, Any, Any, Any]:
    """Queue a test delivery, show this webhook's log and refresh it until the attempt appears."""
    webhook_id = _clicked_id()
    if webhook_id is None:
        return dash.no_update, dash.no_update, dash.no_update, dash.no_update
    try:
        delivery_id = send_test(require_user_id(), webhook_id)
    except ServiceError:
        return None, None, True, 0
    return webhook_id, delivery_id, False, 0


@callback(
    Output(SELECTED, "data", allow_duplicate=True),
    Input({"type": LOG_TYPE, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def log_clicked(_clicks: list[int | None]) -> Any:
    webhook_id = _clicked_id()
    return dash.no_update if webhook_id is None else webhook_id


@callback(
    Output(LOG, "children"),
    Output(POLL, "disabled", allow_duplicate=True),
    Input(SELECTED, "data"),
    Input(POLL, "n_intervals"),
    State(WATCH, "data"),
    prevent_initial_call=True,
)
def show_log(selected: object, ticks: object, watched: object) -> tuple[Any, Any]:
    """The selected webhook's log; polling stops once the watched delivery has an attempt."""
    if not isinstance(selected, int) or isinstance(selected, bool) or not 0 < selected < 2**63:
        return None, True
    try:
        title, attempts = webhook_log(require_user_id(), selected)
    except ServiceError:
        return None, True
    seen = any(attempt.delivery_id == watched for attempt in attempts)
    tick_count = ticks if isinstance(ticks, int) else 0
    done = watched is None or seen or tick_count >= MAX_POLLS
    return delivery_log(f"Delivery log: {title}", attempts, utcnow()), True if done else dash.no_update
