"""The signed-in user's notifications for the page, through db.notifications (the API's service)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.runtime import get_runtime
from db.errors import NotFound
from db.notifications import MAX_PAGE_SIZE, list_notifications, mark_all_read, mark_read, unread_count
from db.serialize import notification_json


def unread_for(user_id: int) -> int:
    """The bell's number: one indexed COUNT (user_id, read_at)."""
    with get_runtime().transaction() as session:
        return unread_count(session, user_id)


@dataclass(frozen=True)
class NotificationsView:
    items: list[dict[str, Any]]  # first page, unread first, in the API's shape
    unread: int
    total: int
    latest_id: int | None

    @property
    def fingerprint(self) -> list[Any]:
        """What changes when the list would look different: a new one, a read, a deletion."""
        return [self.latest_id, self.unread, self.total]


def user_notifications(user_id: int, *, limit: int = MAX_PAGE_SIZE) -> NotificationsView:
    with get_runtime().transaction() as session:
        page = list_notifications(session, user_id, limit=limit)
        items = [notification_json(n) for n in page.items]
        return NotificationsView(items, page.unread_count, page.total, page.latest_id)


def notifications_fingerprint(user_id: int) -> list[Any]:
    """The poll's cheap check: counts and newest id, fetching one row instead of the page."""
    return user_notifications(user_id, limit=1).fingerprint


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
