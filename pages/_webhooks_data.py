"""The signed-in user's webhooks for `/account/webhooks`, through services.webhooks (the API's service)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api.runtime import get_runtime
from jobs.webhook_dispatch import dispatch_pending
from services.webhooks import (
    create_webhook,
    delete_webhook,
    list_webhooks,
    queue_test_delivery,
    recent_attempts,
)


@dataclass(frozen=True)
class WebhookRow:
    id: int
    name: str
    url: str
    events: list[str]
    format: str


@dataclass(frozen=True)
class AttemptRow:
    delivery_id: int | None
    event: str
    at: datetime
    status_code: int | None
    error: str | None
    latency_ms: float


def user_webhooks(user_id: int) -> list[WebhookRow]:
    with get_runtime().transaction() as session:
        return [
            WebhookRow(h.id, h.name, h.url, list(h.events or []), h.format)
            for h in list_webhooks(session, user_id)
        ]


def add_webhook(user_id: int, *, url: object, events: object, body_format: object, name: object) -> str:
    """Save a webhook; returns its secret (shown once). Raises ValidationError / Conflict."""
    runtime = get_runtime()
    with runtime.transaction() as session:
        created = create_webhook(
            session,
            user_id,
            url=url,
            events=events,
            body_format=body_format,
            name=name,
            secret_key=runtime.settings.secret_key,
            allow_private=runtime.settings.webhooks_allow_private,
        )
        return created.secret


def remove_webhook(user_id: int, webhook_id: int) -> None:
    """Delete one of the user's webhooks. Raises NotFound for another user's."""
    with get_runtime().transaction() as session:
        delete_webhook(session, user_id, webhook_id)


def send_test(user_id: int, webhook_id: int) -> int:
    """Queue a test delivery and hand it over after the commit; its delivery id."""
    runtime = get_runtime()
    with runtime.transaction() as session:
        delivery_id = queue_test_delivery(session, user_id, webhook_id).id
    dispatch_pending(runtime.sessions, runtime.settings, only_ids=[delivery_id])
    return delivery_id


def webhook_log(user_id: int, webhook_id: int) -> tuple[str, list[AttemptRow]]:
    """The webhook's title and last attempts, newest first. Raises NotFound for another user's."""
    with get_runtime().transaction() as session:
        title = next((h.name or h.url for h in list_webhooks(session, user_id) if h.id == webhook_id), "")
        attempts = [
            AttemptRow(a.delivery_id, a.event, a.at, a.status_code, a.error, a.latency_ms)
            for a in recent_attempts(session, user_id, webhook_id)
        ]
    return title, attempts
