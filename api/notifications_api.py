"""`/api/notifications`: the user's notifications (unread first, `since` cursor) and marking them read."""

from __future__ import annotations

from flask import Blueprint, Response

from api.request_parsing import (
    MAX_DB_ID,
    bool_arg,
    current_user_id,
    db_id,
    int_arg,
    register_service_errors,
    success,
)
from api.runtime import get_runtime
from services.notifications import MAX_PAGE_SIZE, list_notifications, mark_all_read, mark_read
from services.serialize import notification_json

bp = Blueprint("notifications_api", __name__, url_prefix="/api/notifications")
register_service_errors(bp)


@bp.get("")
def list_user_notifications() -> tuple[Response, int]:
    """Query: `limit`, `offset`, `since` (a `latest_id` from an earlier answer), `unread_only`."""
    limit = int_arg("limit", 20, minimum=1, maximum=MAX_PAGE_SIZE) or 20
    offset = int_arg("offset", 0, minimum=0, maximum=10**9) or 0
    since = int_arg("since", None, minimum=0, maximum=MAX_DB_ID)
    unread_only = bool_arg("unread_only")
    with get_runtime().transaction() as session:
        page = list_notifications(
            session, current_user_id(), limit=limit, offset=offset, since_id=since, unread_only=unread_only
        )
        body = {
            "items": [notification_json(item) for item in page.items],
            "total": page.total,
            "unread_count": page.unread_count,
            "limit": page.limit,
            "offset": page.offset,
            "latest_id": page.latest_id,
        }
    return success(body)


@bp.post("/<int:notification_id>/read")
def read_one(notification_id: int) -> tuple[Response, int]:
    with get_runtime().transaction() as session:
        notification = mark_read(session, current_user_id(), db_id(notification_id, "Notification"))
        body = notification_json(notification)
    return success(body)


@bp.post("/read-all")
def read_all() -> tuple[Response, int]:
    with get_runtime().transaction() as session:
        changed = mark_all_read(session, current_user_id())
    return success({"marked_read": changed})
