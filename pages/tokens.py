"""`/account/tokens`: the signed-in user's API tokens: list them, create one with an expiry (shown
once), revoke one. The same service functions as `lora-pipeline tokens ...`."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, html

from api.compression import keep_uncompressed
from components.token_view import REVOKE_TYPE, tokens_table
from pages._signed_in import require_user_id, signed_in_user_id
from pages._tokens_data import (
    DEFAULT_LIFETIME_DAYS,
    LIFETIME_DAYS,
    MAX_NAME_LENGTH,
    create_token,
    revoke,
    user_tokens,
)
from services.accounts import AccountError

PATH = "/account/tokens"
dash.register_page(__name__, path=PATH, name="API tokens", title="API tokens · PIPELINE", nav_order=5)

TABLE = "tokens-list"
NAME = "token-name"
LIFETIME = "token-lifetime"
CREATE = "token-create"
CREATED = "token-created"


def _table(user_id: int) -> Any:
    rows, now = user_tokens(user_id)
    return tokens_table(rows, now)


def layout(**_query: str) -> html.Div:
    user_id = signed_in_user_id()
    create_form = dbc.Card(
        dbc.CardBody(
            [
                html.H2("New token", className="h6"),
                dbc.Row(
                    [
                        dbc.Col(
                            [
                                dbc.Label("Name", html_for=NAME),
                                dbc.Input(
                                    id=NAME, placeholder="e.g. laptop script", maxLength=MAX_NAME_LENGTH
                                ),
                            ],
                            md=6,
                        ),
                        dbc.Col(
                            [
                                dbc.Label("Expires after", html_for=LIFETIME),
                                dbc.Select(
                                    id=LIFETIME,
                                    options=[{"label": f"{d} days", "value": str(d)} for d in LIFETIME_DAYS],
                                    value=str(DEFAULT_LIFETIME_DAYS),
                                ),
                            ],
                            md=3,
                        ),
                        dbc.Col(
                            html.Button(
                                "Create token", id=CREATE, type="button", className="btn btn-primary"
                            ),
                            md=3,
                            className="d-flex align-items-end",
                        ),
                    ],
                    className="g-2",
                ),
                html.Div(id=CREATED, className="mt-3"),
            ]
        ),
        className="mb-3",
    )
    return html.Div(
        [
            html.H1("API tokens", className="h3"),
            html.P(
                "Programs use a token as 'Authorization: Bearer <token>'. Revoke any you no longer use.",
                className="text-body-secondary small",
            ),
            create_form,
            html.Div(_table(user_id) if user_id is not None else None, id=TABLE),
        ],
        className="tokens-page",
    )


@callback(
    Output(TABLE, "children"),
    Output(CREATED, "children"),
    Input(CREATE, "n_clicks"),
    State(NAME, "value"),
    State(LIFETIME, "value"),
    prevent_initial_call=True,
)
def create(n_clicks: int | None, name: object, lifetime: object) -> tuple[Any, Any]:
    """Create a token and show it once; a crafted payload with odd types is refused in words."""
    if not n_clicks:
        return dash.no_update, dash.no_update
    user_id = require_user_id()
    try:
        days = int(str(lifetime))
        token = create_token(user_id, name.strip() if isinstance(name, str) else "", days)
    except (ValueError, AccountError) as exc:
        message = str(exc) if isinstance(exc, AccountError) else "Choose how long the token lasts."
        return dash.no_update, dbc.Alert(message, color="danger", className="mb-0 small")
    keep_uncompressed()  # the secret beside the name typed: never compressed (BREACH)
    shown = dbc.Alert(
        [
            html.Div("Copy this token now: it is shown once and kept only as a hash."),
            html.Code(token, id="token-value", className="user-select-all"),
        ],
        color="success",
        className="mb-0 small",
    )
    return _table(user_id), shown


@callback(
    Output(TABLE, "children", allow_duplicate=True),
    Input({"type": REVOKE_TYPE, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def revoke_clicked(_clicks: list[int | None]) -> Any:
    """Revoke the clicked token; a re-rendered table (no click) changes nothing."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        return dash.no_update
    token_id = trigger.get("id")
    if not isinstance(token_id, int) or isinstance(token_id, bool) or not 0 < token_id < 2**63:
        return dash.no_update
    user_id = require_user_id()
    revoke(user_id, token_id)
    return _table(user_id)
