"""The API tokens table of `/account/tokens`: pure builders from rows to components."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import dash_bootstrap_components as dbc
from dash import html

from components.formatters import format_absolute_time, format_relative_time

REVOKE_TYPE = "token-revoke"
STATE_COLOURS = {"active": "success", "expired": "secondary", "revoked": "danger"}


class TokenLike(Protocol):
    """What the table reads of a token (pages._tokens_data.TokenRow)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def last_used_at(self) -> datetime | None: ...


def _when(at: datetime | None, now: datetime, never: str) -> html.Span | str:
    if at is None:
        return never
    return html.Span(format_relative_time(at, now), title=format_absolute_time(at))


def tokens_table(tokens: Sequence[TokenLike], now: datetime) -> html.Div | dbc.Table:
    """One row per token with its state and a Revoke button while it is active."""
    if not tokens:
        return html.Div("You have no API tokens.", className="text-body-secondary", id="tokens-empty")
    header = html.Thead(
        html.Tr([html.Th(name) for name in ("Name", "State", "Created", "Expires", "Last used", "")])
    )
    rows = [
        html.Tr(
            [
                html.Td(token.name or "—"),
                html.Td(dbc.Badge(token.state, color=STATE_COLOURS.get(token.state, "secondary"))),
                html.Td(_when(token.created_at, now, "—")),
                html.Td(_when(token.expires_at, now, "never")),
                html.Td(_when(token.last_used_at, now, "never")),
                html.Td(
                    html.Button(
                        "Revoke",
                        id={"type": REVOKE_TYPE, "id": token.id},
                        type="button",
                        className="btn btn-outline-danger btn-sm",
                    )
                    if token.state == "active"
                    else None
                ),
            ]
        )
        for token in tokens
    ]
    return dbc.Table(
        [header, html.Tbody(rows)], hover=True, responsive=True, className="align-middle", id="tokens-table"
    )
