"""A user's notifications: the list (unread first), the unread count for the navbar bell, marking read.

Every notification is created through `add_notification` (the state machine, services/transitions.py,
and any later source such as run health checks), which also writes the outbox rows of the user's
webhooks that chose its type, in the same transaction. Reads and marks are scoped to the acting user.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Notification
from db.session import rows_affected
from services.errors import BIGINT_MAX, NotFound
from services.webhooks import queue_notification_deliveries

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class NotificationPage:
    items: list[Notification]
    total: int
    unread_count: int
    limit: int
    offset: int
    latest_id: int | None  # pass back as `since` to get only newer ones


def add_notification(session: Session, notification: Notification) -> Notification:
    """Add a notification to the caller's transaction, with its webhook outbox rows (enqueued for
    delivery after the commit by the processor cycle: jobs/webhook_dispatch.py)."""
    session.add(notification)
    queue_notification_deliveries(session, notification)
    return notification


def unread_count(session: Session, user_id: int) -> int:
    query = select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    return int(session.scalar(query) or 0)


def list_notifications(
    session: Session,
    user_id: int,
    *,
    limit: int = 20,
    offset: int = 0,
    since_id: int | None = None,
    unread_only: bool = False,
) -> NotificationPage:
    """Unread first, then newest first. `since_id` keeps only notifications created after that one
    (ids only grow), so a poller sends the `latest_id` it saw and receives only what is new."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    offset = max(0, offset)
    conditions = [Notification.user_id == user_id]
    if since_id is not None:
        conditions.append(Notification.id > since_id)
    if unread_only:
        conditions.append(Notification.read_at.is_(None))
    total = int(session.scalar(select(func.count()).where(*conditions)) or 0)
    items = session.scalars(
        select(Notification)
        .where(*conditions)
        .order_by(Notification.read_at.is_not(None), Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    latest = session.scalar(select(func.max(Notification.id)).where(Notification.user_id == user_id))
    return NotificationPage(
        items=list(items),
        total=total,
        unread_count=unread_count(session, user_id),
        limit=limit,
        offset=offset,
        latest_id=latest,
    )


def mark_read(session: Session, user_id: int, notification_id: int) -> Notification:
    """Mark one notification read (idempotent: the first read time is kept).

    Raises:
        NotFound: no such notification for this user.
    """
    notification = None
    if 0 < notification_id <= BIGINT_MAX:
        notification = session.scalar(
            select(Notification).where(Notification.id == notification_id, Notification.user_id == user_id)
        )
    if notification is None:
        raise NotFound("Notification not found", f"No notification {notification_id} in your account.")
    if notification.read_at is None:
        notification.read_at = utcnow()
        session.flush()
    return notification


def mark_all_read(session: Session, user_id: int) -> int:
    """Mark every unread notification of the user read; returns how many changed."""
    result = session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return rows_affected(result)
