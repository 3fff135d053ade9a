"""`/notifications`: the user's notifications, unread first, a page at a time, with mark read and mark
all read; also the navbar bell's callback (the bell sits in app.py's shell).

The bell's callback lives in this page module because Dash executes page modules afresh for each app
it builds, while a module-level `@callback` in an ordinary import registers only for the first app.
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
    notifications_summary,
)
from components.pager import page_href, pager, requested_page
from pages._notifications_data import (
    PAGE_SIZE,
    NotificationsView,
    mark_all,
    mark_one,
    notifications_changed,
    unread_for,
    user_notifications,
)
from pages._payload import payload_id
from pages._signed_in import require_user_id, signed_in_user_id

PATH = "/notifications"
dash.register_page(__name__, path=PATH, name="Notifications", title="Notifications · PIPELINE")

LIST = "notifications-list"
MARK_ALL = "notifications-mark-all"
SUMMARY = "notifications-summary"
PAGER = "notifications-pager"
SEEN = "notifications-seen"  # fingerprint of what the list shows; the poll redraws only on change
SHOWN_PAGE = "notifications-shown-page"  # the page number shown, for redraws after a mark or a poll


def _summary(view: NotificationsView) -> str:
    return notifications_summary(view.unread, view.total, view.page, PAGE_SIZE, len(view.items))


def _pager(view: NotificationsView) -> html.Nav | None:
    return pager(view.page, view.pages, lambda n: page_href(PATH, n), label="Notifications pages")


def _shown_page(data: object) -> int:
    """The stored page number (a crafted callback may send anything: that reads as page 1)."""
    return requested_page(str(data)) if isinstance(data, int) and not isinstance(data, bool) else 1


def layout(page: str | None = None, **_query: str) -> html.Div:
    """``?page=N``: anything but a page number is the first page, a page past the end the last."""
    user_id = signed_in_user_id()
    view = user_notifications(user_id, page=requested_page(page)) if user_id is not None else None
    return html.Div(
        [
            dcc.Store(id=SEEN, data=view.fingerprint if view else None),
            dcc.Store(id=SHOWN_PAGE, data=view.page if view else 1),
            html.Div(
                [
                    html.Div(
                        [
                            html.H1("Notifications", className="h3 mb-0"),
                            html.Div(
                                _summary(view) if view else "",
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
                        disabled=view is None or view.unread == 0,
                    ),
                ],
                className="d-flex flex-wrap justify-content-between align-items-center gap-2 mb-3",
            ),
            html.Div(notifications_list(view.items if view else []), id=LIST, **aria(live="polite")),
            html.Div(
                _pager(view) if view else None,
                id=PAGER,
                className="d-flex justify-content-center mt-3",
            ),
        ],
        className="notifications-page",
    )


def _page_outputs(view: NotificationsView) -> tuple[Any, str, bool, Any]:
    """What a redraw of the shown page sends: list, summary, mark-all disabled, pager."""
    return notifications_list(view.items), _summary(view), view.unread == 0, _pager(view)


def _refreshed(user_id: int, page: object) -> tuple[Any, ...]:
    view = user_notifications(user_id, page=_shown_page(page))
    return (*_page_outputs(view), bell_children(view.unread), view.fingerprint)


@callback(
    Output(LIST, "children"),
    Output(SUMMARY, "children"),
    Output(MARK_ALL, "disabled"),
    Output(PAGER, "children"),
    Output(BELL_LINK, "children", allow_duplicate=True),
    Output(SEEN, "data"),
    Input({"type": MARK_READ_TYPE, "id": ALL}, "n_clicks"),
    State(SHOWN_PAGE, "data"),
    prevent_initial_call=True,
)
def mark_notification_read(_clicks: list[int | None], page: object) -> tuple[Any, ...]:
    """Mark the clicked one read; a re-rendered list (no click) changes nothing."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        return (dash.no_update,) * 6
    user_id = require_user_id()
    notification_id = payload_id(trigger.get("id"))
    if notification_id is not None:
        mark_one(user_id, notification_id)
    return _refreshed(user_id, page)


@callback(
    Output(LIST, "children", allow_duplicate=True),
    Output(SUMMARY, "children", allow_duplicate=True),
    Output(MARK_ALL, "disabled", allow_duplicate=True),
    Output(PAGER, "children", allow_duplicate=True),
    Output(BELL_LINK, "children", allow_duplicate=True),
    Output(SEEN, "data", allow_duplicate=True),
    Input(MARK_ALL, "n_clicks"),
    State(SHOWN_PAGE, "data"),
    prevent_initial_call=True,
)
def mark_all_notifications_read(n_clicks: int | None, page: object) -> tuple[Any, ...]:
    if not n_clicks:
        return (dash.no_update,) * 6
    user_id = require_user_id()
    mark_all(user_id)
    return _refreshed(user_id, page)


@callback(Output(BELL_LINK, "children"), Input(BELL_INTERVAL, "n_intervals"))
def refresh_bell(_n: int | None) -> list[Any]:
    """Every UI poll, on every page: one indexed COUNT of the user's unread notifications."""
    return bell_children(unread_for(require_user_id()))


@callback(
    Output(LIST, "children", allow_duplicate=True),
    Output(SUMMARY, "children", allow_duplicate=True),
    Output(MARK_ALL, "disabled", allow_duplicate=True),
    Output(PAGER, "children", allow_duplicate=True),
    Output(SEEN, "data", allow_duplicate=True),
    Input(BELL_INTERVAL, "n_intervals"),
    State(SEEN, "data"),
    State(SHOWN_PAGE, "data"),
    prevent_initial_call=True,
)
def follow_new_notifications(_n: int | None, seen: list[Any] | None, page: object) -> tuple[Any, ...]:
    """On this page, the bell's poll also brings in new notifications; unchanged → nothing sent."""
    user_id = require_user_id()
    if not notifications_changed(user_id, seen):
        return (dash.no_update,) * 5
    view = user_notifications(user_id, page=_shown_page(page))
    return (*_page_outputs(view), view.fingerprint)
