"""`/notifications`: the user's notifications, unread first, with mark read / mark all read,
and the callback of the navbar bell (the bell itself sits in app.py's shell, on every page).

Reads and marks go through db.notifications (the service behind `/api/notifications`). Marking
also refreshes the bell at once instead of waiting for its next poll. The bell's callback lives
here, not in a private module, because Dash executes page modules afresh for each app it builds
while a module-level `@callback` in an ordinary import registers only for the first app.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html

from components.aria import aria
from components.notification_view import (
    BELL_INTERVAL,
    BELL_LINK,
    MARK_READ_TYPE,
    bell_children,
    notifications_list,
)
from pages._notifications_read import (
    mark_all,
    mark_one,
    notifications_changed,
    unread_for,
    user_notifications,
)
from pages._signed_in import require_user_id, signed_in_user_id

dash.register_page(__name__, path="/notifications", name="Notifications", title="Notifications · PIPELINE")

LIST = "notifications-list"
MARK_ALL = "notifications-mark-all"
SUMMARY = "notifications-summary"
SEEN = "notifications-seen"  # fingerprint of what the list shows; the poll redraws only on change


def _summary(unread: int, total: int, shown: int) -> str:
    if total == 0:
        return ""
    counts = f"{unread:,} unread of {total:,}" if unread else f"All {total:,} read"
    return f"{counts} · showing the first {shown:,}" if shown < total else counts


def layout(**_query: str) -> html.Div:
    user_id = signed_in_user_id()
    view = user_notifications(user_id) if user_id is not None else None
    items, unread, total = (view.items, view.unread, view.total) if view else ([], 0, 0)
    return html.Div(
        [
            dcc.Store(id=SEEN, data=view.fingerprint if view else None),
            html.Div(
                [
                    html.Div(
                        [
                            html.H1("Notifications", className="h3 mb-0"),
                            html.Div(
                                _summary(unread, total, len(items)),
                                id=SUMMARY,
                                className="small text-body-secondary",
                            ),
                        ]
                    ),
                    html.Button(
                        [html.I(className="bi bi-check2-all me-1", **aria(hidden=True)), "Mark all read"],
                        id=MARK_ALL,
                        type="button",
                        className="btn btn-outline-primary btn-sm",
                        disabled=unread == 0,
                    ),
                ],
                className="d-flex flex-wrap justify-content-between align-items-center gap-2 mb-3",
            ),
            html.Div(notifications_list(items), id=LIST, **aria(live="polite")),
        ],
        className="notifications-page",
    )


def _refreshed(user_id: int) -> tuple[Any, str, bool, list[Any], list[Any]]:
    view = user_notifications(user_id)
    return (
        notifications_list(view.items),
        _summary(view.unread, view.total, len(view.items)),
        view.unread == 0,
        bell_children(view.unread),
        view.fingerprint,
    )


@callback(
    Output(LIST, "children"),
    Output(SUMMARY, "children"),
    Output(MARK_ALL, "disabled"),
    Output(BELL_LINK, "children", allow_duplicate=True),
    Output(SEEN, "data"),
    Input({"type": MARK_READ_TYPE, "id": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def mark_notification_read(_clicks: list[int | None]) -> tuple[Any, ...]:
    """Mark the clicked one read; a re-rendered list (no click) changes nothing."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        return (dash.no_update,) * 5
    user_id = require_user_id()
    mark_one(user_id, int(trigger["id"]))
    return _refreshed(user_id)


@callback(
    Output(LIST, "children", allow_duplicate=True),
    Output(SUMMARY, "children", allow_duplicate=True),
    Output(MARK_ALL, "disabled", allow_duplicate=True),
    Output(BELL_LINK, "children", allow_duplicate=True),
    Output(SEEN, "data", allow_duplicate=True),
    Input(MARK_ALL, "n_clicks"),
    prevent_initial_call=True,
)
def mark_all_notifications_read(n_clicks: int | None) -> tuple[Any, ...]:
    if not n_clicks:
        return (dash.no_update,) * 5
    user_id = require_user_id()
    mark_all(user_id)
    return _refreshed(user_id)


@callback(Output(BELL_LINK, "children"), Input(BELL_INTERVAL, "n_intervals"))
def refresh_bell(_n: int | None) -> list[Any]:
    """Every UI poll, on every page: one indexed COUNT of the user's unread notifications."""
    return bell_children(unread_for(require_user_id()))


@callback(
    Output(LIST, "children", allow_duplicate=True),
    Output(SUMMARY, "children", allow_duplicate=True),
    Output(MARK_ALL, "disabled", allow_duplicate=True),
    Output(SEEN, "data", allow_duplicate=True),
    Input(BELL_INTERVAL, "n_intervals"),
    State(SEEN, "data"),
    prevent_initial_call=True,
)
def follow_new_notifications(_n: int | None, seen: list[Any] | None) -> tuple[Any, ...]:
    """On this page, the bell's poll also brings in new notifications; unchanged → nothing sent."""
    user_id = require_user_id()
    if not notifications_changed(user_id, seen):
        return (dash.no_update,) * 4
    view = user_notifications(user_id)
    return (
        notifications_list(view.items),
        _summary(view.unread, view.total, len(view.items)),
        view.unread == 0,
        view.fingerprint,
    )
