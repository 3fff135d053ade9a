"""Pure builders for notifications: the list on /notifications and the navbar bell.

Notifications arrive as dicts with the JSON API's keys (``id``, ``type``, ``title``,
``message``, ``priority``, ``action_url``, ``read_at``, ``created_at``). Ordering (unread first)
is the service layer's; this module keeps the order it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.aria import aria, decorative_icon
from components.formatters import format_absolute_time, format_relative_time, parse_timestamp
from components.pager import shown_range

MARK_READ_TYPE = "notification-mark-read"
BELL_LINK = "navbar-bell"
BELL_INTERVAL = "navbar-bell-interval"
BELL_MAX_SHOWN = 99
_PRIORITY_COLORS = {"high": "danger", "urgent": "danger", "low": "secondary"}
_TYPE_ICONS = {
    "job_completed": "bi-check-circle text-success",
    "job_failed": "bi-x-octagon text-danger",
    "job_cancelled": "bi-slash-circle text-warning",
    "budget": "bi-cash-coin text-warning",
}


def mark_read_id(notification_id: int) -> dict[str, Any]:
    return {"type": MARK_READ_TYPE, "id": int(notification_id)}


def bell_badge_text(unread: int) -> str:
    """``""`` for none, the count up to 99, then ``99+`` (a badge must stay small)."""
    if unread <= 0:
        return ""
    return str(unread) if unread <= BELL_MAX_SHOWN else f"{BELL_MAX_SHOWN}+"


def bell_label(unread: int) -> str:
    """The bell link's accessible name, which says the count a sighted user reads off the badge."""
    if unread <= 0:
        return "Notifications, none unread"
    return f"Notifications, {unread:,} unread"


def _safe_action_url(url: Any) -> str | None:
    """Only same-site paths become links: a stored URL must never send the user elsewhere."""
    if not isinstance(url, str) or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    return url


def notification_item(item: Mapping[str, Any], now: datetime) -> html.Li:
    """One notification: title (linked to its action), message, time, unread mark and button."""
    unread = not item.get("read_at")
    title = str(item.get("title", ""))
    url = _safe_action_url(item.get("action_url"))
    heading: Any = dcc.Link(title, href=url, className="notification__title") if url else title
    at = parse_timestamp(item["created_at"]) if item.get("created_at") else None
    priority = str(item.get("priority") or "medium")
    meta: list[Any] = []
    if at is not None:
        meta.append(
            html.Time(format_relative_time(at, now), dateTime=at.isoformat(), title=format_absolute_time(at))
        )
    if priority in _PRIORITY_COLORS:
        meta.append(dbc.Badge(priority.capitalize(), color=_PRIORITY_COLORS[priority], className="ms-2"))
    action: Any = (
        html.Button(
            [decorative_icon("bi-check2", "me-1"), "Mark read"],
            id=mark_read_id(int(item["id"])),
            type="button",
            className="btn btn-sm btn-outline-primary text-nowrap",
            **aria(f"Mark “{title}” as read"),
        )
        if unread
        else html.Span("Read", className="small text-body-secondary d-none d-sm-inline")
    )
    return html.Li(
        [
            decorative_icon(
                _TYPE_ICONS.get(str(item.get("type")), "bi-bell text-body-secondary"), "notification__icon"
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.Span("Unread", className="visually-hidden") if unread else None,
                            html.Span(className="notification__dot", **aria(hidden=True)) if unread else None,
                            html.Span(heading, className="fw-semibold" if unread else ""),
                        ],
                        className="d-flex align-items-center gap-2",
                    ),
                    html.P(str(item.get("message", "")), className="notification__message mb-1"),
                    html.Div(meta, className="small text-body-secondary"),
                ],
                className="notification__body",
            ),
            html.Div(action, className="notification__action"),
        ],
        className="list-group-item notification" + (" notification--unread" if unread else ""),
        id=f"notification-{int(item['id'])}",
    )


def notifications_summary(unread: int, total: int, page: int, page_size: int, shown: int) -> str:
    """``2 unread of 3`` / ``All 3 read``, plus ``· showing 51–100`` when there is more than one page."""
    if total == 0:
        return ""
    counts = f"{unread:,} unread of {total:,}" if unread else f"All {total:,} read"
    if total <= page_size:
        return counts
    first, last = shown_range(page, page_size, shown)
    return f"{counts} · showing {first:,}–{last:,}"


def notifications_list(items: Sequence[Mapping[str, Any]], now: datetime | None = None) -> Any:
    """The list as given (the service puts unread first), or an empty state."""
    if not items:
        return html.Div(
            [
                decorative_icon("bi-bell-slash", "me-2"),
                "No notifications yet. You will hear here when a job finishes.",
            ],
            className="text-body-secondary py-4 text-center",
            id="notifications-empty",
        )
    current = now or datetime.now(UTC)
    return html.Ul([notification_item(item, current) for item in items], className="list-group notifications")


def bell_children(unread: int) -> list[Any]:
    """What the navbar bell link holds: icon, count badge (hidden at zero), and its spoken name."""
    text = bell_badge_text(unread)
    return [
        decorative_icon("bi-bell-fill" if unread > 0 else "bi-bell"),
        html.Span(
            text,
            className="badge rounded-pill text-bg-danger navbar-bell__count" + ("" if text else " d-none"),
            id="navbar-bell-count",
            **aria(hidden=True),
        ),
        html.Span(bell_label(unread), className="visually-hidden"),
    ]


def navbar_bell(poll_seconds: float) -> list[Any]:
    """The bell link for app.py's ``#navbar-extra`` and the interval that refreshes its count."""
    return [
        dcc.Link(bell_children(0), href="/notifications", id=BELL_LINK, className="navbar-bell nav-link"),
        dcc.Interval(id=BELL_INTERVAL, interval=max(int(poll_seconds * 1000), 1000)),
    ]
