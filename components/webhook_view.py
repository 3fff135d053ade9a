"""The webhooks list and delivery log of `/account/webhooks`: pure builders from rows to components."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from components.formatters import format_absolute_time, format_relative_time

TEST_TYPE = "webhook-test"
DELETE_TYPE = "webhook-delete"
LOG_TYPE = "webhook-log"


def webhooks_table(webhooks: Sequence[Any], event_labels: Mapping[str, str]) -> html.Div | dbc.Table:
    """One row per webhook: name, URL, events, format, and Send test / Log / Delete buttons."""
    if not webhooks:
        return html.Div("You have no webhooks.", className="text-body-secondary", id="webhooks-empty")
    header = html.Thead(html.Tr([html.Th(name) for name in ("Name", "URL", "Events", "Format", "")]))
    rows = [
        html.Tr(
            [
                html.Td(hook.name or "—"),
                html.Td(html.Code(hook.url, className="small text-break")),
                html.Td(", ".join(event_labels.get(event, event).split(" (")[0] for event in hook.events)),
                html.Td("Slack" if hook.format == "slack" else "JSON"),
                html.Td(
                    [
                        _button("Send test", TEST_TYPE, hook.id, "btn-outline-primary"),
                        _button("Log", LOG_TYPE, hook.id, "btn-outline-secondary"),
                        _button("Delete", DELETE_TYPE, hook.id, "btn-outline-danger"),
                    ],
                    className="text-end text-nowrap",
                ),
            ],
            id=f"webhook-row-{hook.id}",
        )
        for hook in webhooks
    ]
    return dbc.Table([header, html.Tbody(rows)], hover=True, responsive=True, size="sm", id="webhooks-table")


def _button(label: str, kind: str, webhook_id: int, style: str) -> html.Button:
    return html.Button(
        label,
        id={"type": kind, "id": webhook_id},
        type="button",
        className=f"btn btn-sm {style} ms-1",
        title=f"{label} (webhook {webhook_id})",
    )


def delivery_log(title: str, attempts: Sequence[Any], now: datetime) -> html.Div:
    """The last attempts of one webhook, newest first: when, event, status code or error, latency."""
    if not attempts:
        body: Any = html.Div(
            "No delivery attempts yet.", className="text-body-secondary small", id="webhook-log-empty"
        )
    else:
        header = html.Thead(html.Tr([html.Th(n) for n in ("When", "Event", "Result", "Latency")]))
        rows = [
            html.Tr(
                [
                    html.Td(html.Span(format_relative_time(a.at, now), title=format_absolute_time(a.at))),
                    html.Td(a.event),
                    html.Td(_result(a.status_code, a.error)),
                    html.Td(f"{a.latency_ms:,.0f} ms", className="text-end"),
                ],
                className="webhook-attempt",
            )
            for a in attempts
        ]
        body = dbc.Table([header, html.Tbody(rows)], size="sm", responsive=True, id="webhook-log-table")
    return html.Div([html.H2(title, className="h6 mt-3"), body])


def _result(status_code: int | None, error: str | None) -> Any:
    if error is None:
        return dbc.Badge(f"{status_code} OK", color="success")
    label = error if status_code is None else f"{status_code}: {error}"
    return dbc.Badge(label, color="danger", className="text-wrap text-start")
