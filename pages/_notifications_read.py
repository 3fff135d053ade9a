"""The signed-in user's notifications for the page, through db.notifications (the API's service)."""

from __future__ import annotations

from typing import Any

from api.runtime import get_runtime
from db.errors import NotFound
from db.notifications import MAX_PAGE_SIZE, list_notifications, mark_all_read, mark_read, unread_count
from db.serialize import notification_json


def unread_for(user_id: int) -> int:
    """The bell's number: one indexed COUNT (user_id, read_at)."""
    with get_runtime().transaction() as session:
        return unread_count(session, user_id)


def user_notifications(user_id: int) -> tuple[list[dict[str, Any]], int, int]:
    """(first page unread-first in the API's shape, unread count, total)."""
    with get_runtime().transaction() as session:
        page = list_notifications(session, user_id, limit=MAX_PAGE_SIZE)
        return [notification_json(n) for n in page.items], page.unread_count, page.total


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
