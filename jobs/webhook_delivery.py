"""One attempt to deliver one outbox row: render the body, sign it, check the target again, POST.

The target is re-resolved and re-checked at every attempt (DNS can change since the webhook was
saved) and the request goes to the checked address itself, so a second lookup cannot swap it.
No redirects are followed, timeouts are short and at most RESPONSE_BYTES_READ of the answer are
read: a slow or hostile endpoint costs one worker a few seconds, never the processor cycle.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from contract.signing import (
    WEBHOOK_DELIVERY_HEADER,
    WEBHOOK_EVENT_HEADER,
    callback_headers,
    derive_webhook_secret,
)
from db.base import utcnow
from db.models import Webhook, WebhookAttempt, WebhookDelivery
from services.webhook_targets import Target, TargetRefused, resolve_target
from services.webhooks import ATTEMPTS_KEPT
from settings import Settings

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(5.0, connect=3.0, pool=1.0)
RESPONSE_BYTES_READ = 4096
USER_AGENT = "PIPELINE-Webhooks/1"


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # failed, attempts remain
    GAVE_UP = "failed"  # failed on the last attempt
    SKIPPED = "skipped"  # already done, deleted, or the webhook was disabled


@dataclass(frozen=True)
class _Pending:
    delivery_id: int
    webhook_id: int
    event: str
    url: str
    body_format: str
    secret_salt: str
    payload: dict[str, Any]


def render_body(
    body_format: str, delivery_id: int, event: str, payload: dict[str, Any], base_url: str
) -> bytes:
    """The bytes POSTed (and signed): our JSON, or a Slack-compatible `{"text": ...}`."""
    action = payload.get("action_url")
    link = f"{base_url.rstrip('/')}{action}" if isinstance(action, str) and action.startswith("/") else None
    if body_format == "slack":
        text = f"*{_slack_escape(str(payload.get('title', '')))}*\n{_slack_escape(str(payload.get('message', '')))}"
        if link:
            text += f"\n<{link}|Open in PIPELINE>"
        document: dict[str, Any] = {"text": text}
    else:
        metadata = payload.get("metadata") or {}
        document = {
            "delivery_id": delivery_id,
            "event": event,
            "title": payload.get("title"),
            "message": payload.get("message"),
            "priority": payload.get("priority"),
            "url": link,
            "job_id": metadata.get("job_id"),
            "status": metadata.get("status"),
            "notification_id": payload.get("notification_id"),
            "created_at": payload.get("created_at"),
        }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def post_signed(target: Target, body: bytes, headers: dict[str, str]) -> int:
    """POST to the checked address (Host and TLS name kept); the status code. Raises httpx errors."""
    address = target.address
    host_in_url = f"[{address}]" if address.version == 6 else str(address)
    default_port = target.port == (443 if target.scheme == "https" else 80)
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    request_headers = {
        **headers,
        "Host": target.host if default_port else f"{target.host}:{target.port}",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    url = f"{target.scheme}://{host_in_url}:{target.port}{target.path}"
    with (
        httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client,
        client.stream("POST", url, content=body, headers=request_headers, extensions=extensions) as response,
    ):
        read = 0
        for chunk in response.iter_raw():  # drained up to a cap, never beyond
            read += len(chunk)
            if read >= RESPONSE_BYTES_READ:
                break
        return response.status_code


def attempt_delivery(
    sessions: sessionmaker[Session], settings: Settings, delivery_id: int, *, final: bool
) -> AttemptOutcome:
    """Try once, record the attempt; `final` says no retry follows (a failure then gives up)."""
    with sessions.begin() as session:
        pending = _load_pending(session, delivery_id)
    if pending is None:
        return AttemptOutcome.SKIPPED
    body = render_body(
        pending.body_format, pending.delivery_id, pending.event, pending.payload, settings.public_base_url
    )
    secret = derive_webhook_secret(settings.secret_key, pending.secret_salt)
    headers = {
        **callback_headers(secret, None, body),
        WEBHOOK_EVENT_HEADER: pending.event,
        WEBHOOK_DELIVERY_HEADER: str(pending.delivery_id),
    }
    status_code: int | None = None
    error: str | None = None
    started = time.perf_counter()
    try:
        target = resolve_target(pending.url, allow_private=settings.webhooks_allow_private)
        status_code = post_signed(target, body, headers)
        if 300 <= status_code < 400:
            error = f"redirect not followed ({status_code})"
        elif not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except TargetRefused as exc:
        error = f"refused: {exc}"
    except httpx.TimeoutException:
        error = "timed out"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    latency_ms = (time.perf_counter() - started) * 1000
    delivered = error is None
    outcome = (
        AttemptOutcome.DELIVERED if delivered else AttemptOutcome.GAVE_UP if final else AttemptOutcome.RETRY
    )
    with sessions.begin() as session:
        _record_attempt(session, pending, outcome, status_code, error, latency_ms)
    log.info(
        "webhook delivery %s: %s (%s) in %.0f ms", delivery_id, outcome, error or status_code, latency_ms
    )
    return outcome


def _load_pending(session: Session, delivery_id: int) -> _Pending | None:
    row = session.execute(
        select(WebhookDelivery, Webhook)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.id == delivery_id)
    ).first()
    if row is None:
        return None  # deleted with its webhook
    delivery, webhook = row
    if delivery.status != "pending":
        return None
    if not webhook.enabled:
        delivery.status, delivery.finished_at = "failed", utcnow()
        return None
    return _Pending(
        delivery_id=delivery.id,
        webhook_id=webhook.id,
        event=delivery.event,
        url=webhook.url,
        body_format=webhook.format,
        secret_salt=webhook.secret_salt,
        payload=dict(delivery.payload or {}),
    )


def _record_attempt(
    session: Session,
    pending: _Pending,
    outcome: AttemptOutcome,
    status_code: int | None,
    error: str | None,
    latency_ms: float,
) -> None:
    delivery = session.get(WebhookDelivery, pending.delivery_id, with_for_update=True)
    if delivery is None:
        return  # the webhook was deleted while we were sending
    now = utcnow()
    delivery.attempts += 1
    if outcome is not AttemptOutcome.RETRY:
        delivery.status, delivery.finished_at = str(outcome), now
    session.add(
        WebhookAttempt(
            webhook_id=pending.webhook_id,
            delivery_id=pending.delivery_id,
            event=pending.event,
            at=now,
            status_code=status_code,
            error=error[:300] if error else None,
            latency_ms=round(latency_ms, 1),
        )
    )
    session.flush()
    keep = (
        select(WebhookAttempt.id)
        .where(WebhookAttempt.webhook_id == pending.webhook_id)
        .order_by(WebhookAttempt.at.desc(), WebhookAttempt.id.desc())
        .limit(ATTEMPTS_KEPT)
    )
    session.execute(
        delete(WebhookAttempt).where(
            WebhookAttempt.webhook_id == pending.webhook_id, WebhookAttempt.id.not_in(keep.scalar_subquery())
        )
    )
