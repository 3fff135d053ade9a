"""A user's outgoing webhooks: create (secret shown once), list, delete, the delivery log, and the
outbox rows a notification writes for every webhook that chose its event.

Every function takes the caller's session and is scoped to the acting user; another user's webhook
is NotFound. Delivery itself (HTTP, signing, retries) is jobs/webhook_delivery.py; the rules for
where a webhook may point are services/webhook_targets.py.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from contract.signing import derive_webhook_secret
from db.base import utcnow
from db.models import Notification, Webhook, WebhookAttempt, WebhookDelivery
from services.errors import BIGINT_MAX, Conflict, NotFound, ValidationError
from services.webhook_targets import target_problem

# Notification types (and refinements a notification names in metadata["event"]) a webhook can
# choose. A new notification type becomes choosable by adding one line here.
WEBHOOK_EVENTS: dict[str, str] = {
    "job_started": "Started",
    "job_completed": "Completed",
    "job_failed": "Failed",
    "job_cancelled": "Cancelled (any cancel, budget stops included)",
    "budget_stop": "Budget stop",
    "health_warning": "Health warning",
}
TEST_EVENT = "test"
FORMATS = ("json", "slack")
MAX_WEBHOOKS_PER_USER = 20
ATTEMPTS_KEPT = 50
MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class CreatedWebhook:
    webhook: Webhook
    secret: str  # shown once, never again


def notification_events(notification: Notification) -> list[str]:
    """The event names a notification answers to: its type, then a refinement (a budget stop is a
    cancel, and also `budget_stop`). The most specific one names the delivery."""
    events = [notification.type]
    refined = (notification.metadata_ or {}).get("event")
    if isinstance(refined, str) and refined and refined != notification.type:
        events.append(refined)
    return events


def _clean_events(raw: object) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(item, str) for item in raw):
        raise ValidationError({"events": f"choose at least one of: {', '.join(WEBHOOK_EVENTS)}"})
    unknown = sorted({item for item in raw if item not in WEBHOOK_EVENTS})
    if unknown:
        raise ValidationError(
            {"events": f"unknown event(s) {', '.join(unknown)}; choose from {', '.join(WEBHOOK_EVENTS)}"}
        )
    return [event for event in WEBHOOK_EVENTS if event in raw]


def validate_webhook(
    url: object, events: object, body_format: object, name: object, *, allow_private: bool
) -> tuple[str, list[str], str, str]:
    """(url, events, format, name) checked; ValidationError names every bad field."""
    errors: dict[str, str] = {}
    clean_url = url.strip() if isinstance(url, str) else ""
    problem = target_problem(clean_url, allow_private=allow_private) if isinstance(url, str) else None
    if not isinstance(url, str):
        problem = "must be a string: the URL to call"
    if problem:
        errors["url"] = problem
    clean_events: list[str] = []
    try:
        clean_events = _clean_events(events)
    except ValidationError as exc:
        errors.update(exc.errors)
    if body_format not in FORMATS:
        errors["format"] = "must be 'json' (our signed body) or 'slack' ({\"text\": ...})"
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME_LENGTH):
        errors["name"] = f"must be text of at most {MAX_NAME_LENGTH} characters"
    if errors:
        raise ValidationError(errors)
    return clean_url, clean_events, str(body_format), (name or "").strip() if isinstance(name, str) else ""


def create_webhook(
    session: Session,
    user_id: int,
    *,
    url: object,
    events: object,
    body_format: object = "json",
    name: object = None,
    secret_key: str,
    allow_private: bool,
) -> CreatedWebhook:
    """Save a webhook after checking its URL (scheme and every resolved address) and events.

    Raises:
        ValidationError: a bad url, events, format or name (each named).
        Conflict: the user already has MAX_WEBHOOKS_PER_USER webhooks.
    """
    clean_url, clean_events, clean_format, clean_name = validate_webhook(
        url, events, body_format, name, allow_private=allow_private
    )
    count = session.scalar(select(func.count()).where(Webhook.user_id == user_id)) or 0
    if count >= MAX_WEBHOOKS_PER_USER:
        raise Conflict("Too many webhooks", f"At most {MAX_WEBHOOKS_PER_USER} webhooks per account.")
    webhook = Webhook(
        user_id=user_id,
        name=clean_name,
        url=clean_url,
        events=clean_events,
        format=clean_format,
        enabled=True,
        secret_salt=secrets.token_hex(16),
        created_at=utcnow(),
    )
    session.add(webhook)
    session.flush()
    return CreatedWebhook(webhook, derive_webhook_secret(secret_key, webhook.secret_salt))


def list_webhooks(session: Session, user_id: int) -> list[Webhook]:
    return list(session.scalars(select(Webhook).where(Webhook.user_id == user_id).order_by(Webhook.id)))


def get_webhook(session: Session, user_id: int, webhook_id: int) -> Webhook:
    """The user's webhook. Raises NotFound for a missing one and for another user's alike."""
    webhook = None
    if 0 < webhook_id <= BIGINT_MAX:
        webhook = session.scalar(select(Webhook).where(Webhook.id == webhook_id, Webhook.user_id == user_id))
    if webhook is None:
        raise NotFound("Webhook not found", f"No webhook {webhook_id} in your account.")
    return webhook


def delete_webhook(session: Session, user_id: int, webhook_id: int) -> None:
    """Delete the user's webhook with its outbox rows and log (ON DELETE CASCADE)."""
    webhook = get_webhook(session, user_id, webhook_id)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.webhook_id == webhook.id))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id))
    session.delete(webhook)
    session.flush()


def recent_attempts(session: Session, user_id: int, webhook_id: int) -> list[WebhookAttempt]:
    """The webhook's last ATTEMPTS_KEPT delivery attempts, newest first."""
    webhook = get_webhook(session, user_id, webhook_id)
    query = (
        select(WebhookAttempt)
        .where(WebhookAttempt.webhook_id == webhook.id)
        .order_by(WebhookAttempt.at.desc(), WebhookAttempt.id.desc())
        .limit(ATTEMPTS_KEPT)
    )
    return list(session.scalars(query))


def notification_payload(notification: Notification) -> dict[str, Any]:
    """What a delivery says about a notification (the body is rendered from this at send time)."""
    return {
        "notification_id": notification.id,
        "type": notification.type,
        "title": notification.title,
        "message": notification.message,
        "priority": notification.priority,
        "action_url": notification.action_url,
        "metadata": dict(notification.metadata_ or {}),
        "created_at": notification.created_at.isoformat() if notification.created_at else None,
    }


def queue_notification_deliveries(session: Session, notification: Notification) -> int:
    """One outbox row per enabled webhook of the notification's user that chose one of its events,
    in the caller's transaction (so a rollback writes none and a commit loses none)."""
    events = notification_events(notification)
    webhooks = [
        hook
        for hook in session.scalars(
            select(Webhook).where(Webhook.user_id == notification.user_id, Webhook.enabled.is_(True))
        )
        if any(event in (hook.events or []) for event in events)
    ]
    if not webhooks:
        return 0
    session.flush()  # the notification's id, for the payload
    payload = notification_payload(notification)
    for hook in webhooks:
        session.add(
            WebhookDelivery(webhook_id=hook.id, event=events[-1], payload=payload, created_at=utcnow())
        )
    return len(webhooks)


def queue_test_delivery(session: Session, user_id: int, webhook_id: int) -> WebhookDelivery:
    """An outbox row with a `test` event for the user's webhook (the page's "Send test")."""
    webhook = get_webhook(session, user_id, webhook_id)
    now = utcnow()
    payload: dict[str, Any] = {
        "notification_id": None,
        "type": TEST_EVENT,
        "title": "Test delivery",
        "message": f"A test from PIPELINE for webhook {webhook.name or webhook.id}.",
        "priority": "low",
        "action_url": "/account/webhooks",
        "metadata": {},
        "created_at": now.isoformat(),
    }
    delivery = WebhookDelivery(webhook_id=webhook.id, event=TEST_EVENT, payload=payload, created_at=now)
    session.add(delivery)
    session.flush()
    return delivery
