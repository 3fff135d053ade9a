"""The signed-in user's notifications for the page, through services.notifications (the API's service)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.runtime import get_runtime
from components.pager import page_count
from pages._paging import read_page
from pages._payload import payload_id
from services.errors import NotFound
from services.notifications import (
    MAX_PAGE_SIZE,
    NotificationPage,
    list_notifications,
    mark_all_read,
    mark_read,
    unread_count,
)
from services.serialize import notification_json


def unread_for(user_id: int) -> int:
    """The bell's number: one indexed COUNT (user_id, read_at)."""
    with get_runtime().transaction() as session:
        return unread_count(session, user_id)


@dataclass(frozen=True)
class NotificationsView:
    items: list[dict[str, Any]]  # one page, unread first, in the API's shape
    unread: int
    total: int
    latest_id: int | None
    page: int  # the page shown (a request past the end shows the last one)
    pages: int

    @property
    def fingerprint(self) -> list[Any]:
        """What changes when the list would look different: a new notification, or one read."""
        return [self.latest_id, self.unread]


# Each item is ~2 KB of component JSON; 50 keeps a redraw near 100 KB. Unread come first, so
# what needs attention is always on the first page.
PAGE_SIZE = min(50, MAX_PAGE_SIZE)


def user_notifications(user_id: int, *, page: int = 1, size: int = PAGE_SIZE) -> NotificationsView:
    """Page `page` of the user's notifications (the last page when `page` is past it)."""
    with get_runtime().transaction() as session:

        def fetch(limit: int, offset: int) -> NotificationPage:
            return list_notifications(session, user_id, limit=limit, offset=offset)

        listing, shown = read_page(fetch, page, size)
        return NotificationsView(
            items=[notification_json(n) for n in listing.items],
            unread=listing.unread_count,
            total=listing.total,
            latest_id=listing.latest_id,
            page=shown,
            pages=page_count(listing.total, size),
        )


def notifications_changed(user_id: int, seen: list[Any] | None) -> bool:
    """The poll's cheap check against the fingerprint the page holds.

    Asks only for notifications newer than the newest one shown (`since_id`), so the service's
    counts cover the few new rows instead of the user's whole history; the unread count is the
    bell's indexed COUNT.
    """
    latest = payload_id(seen[0]) if isinstance(seen, list) and seen else None
    with get_runtime().transaction() as session:
        page = list_notifications(session, user_id, limit=1, since_id=latest)
        return [page.latest_id, page.unread_count] != seen


def mark_one(user_id: int, notification_id: int) -> bool:
    """Mark one read; False when it is not the user's (nothing changes, nothing is revealed)."""
    try:
        with get_runtime().transaction() as session:
            mark_read(session, user_id, notification_id)
    except NotFound:
        return False
    return True


def mark_all(user_id: int) -> int:
    with get_runtime().transaction() as session:
        return mark_all_read(session, user_id)
