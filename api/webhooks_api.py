"""`/api/webhooks`: a user's outgoing webhooks (the secret is in the creation answer only), a test
delivery, and each webhook's delivery log. Another user's webhook is a 404 like a missing one."""

from __future__ import annotations

from flask import Blueprint, Response

from api.compression import keep_uncompressed
from api.request_parsing import current_user_id, db_id, json_body, register_service_errors, success
from api.runtime import get_runtime
from jobs.webhook_dispatch import dispatch_pending
from services.serialize import webhook_attempt_json, webhook_json
from services.webhooks import (
    WEBHOOK_EVENTS,
    create_webhook,
    delete_webhook,
    list_webhooks,
    queue_test_delivery,
    recent_attempts,
)

bp = Blueprint("webhooks_api", __name__, url_prefix="/api/webhooks")
register_service_errors(bp)


@bp.get("")
def list_user_webhooks() -> tuple[Response, int]:
    """The user's webhooks, and the events one can choose."""
    with get_runtime().transaction() as session:
        items = [webhook_json(hook) for hook in list_webhooks(session, current_user_id())]
    return success({"items": items, "events": list(WEBHOOK_EVENTS)})


@bp.post("")
def create() -> tuple[Response, int]:
    """Body: `url`, `events` (list), `format` (`json` | `slack`, default json), `name`.

    :raise 400: a bad field, named in `details` (a URL that is not http(s) or points at a
        forbidden address says why).
    :raise 409: too many webhooks.
    """
    body = json_body()
    runtime = get_runtime()
    with runtime.transaction() as session:
        created = create_webhook(
            session,
            current_user_id(),
            url=body.get("url"),
            events=body.get("events"),
            body_format=body.get("format", "json"),
            name=body.get("name"),
            secret_key=runtime.settings.secret_key,
            allow_private=runtime.settings.webhooks_allow_private,
        )
        data = {**webhook_json(created.webhook), "secret": created.secret}
    keep_uncompressed()  # the secret beside the URL and name sent: never compressed (BREACH)
    return success(data, 201)


@bp.delete("/<int:webhook_id>")
def delete(webhook_id: int) -> tuple[Response, int]:
    with get_runtime().transaction() as session:
        delete_webhook(session, current_user_id(), db_id(webhook_id, "Webhook"))
    return success({"deleted": webhook_id})


@bp.post("/<int:webhook_id>/test")
def send_test(webhook_id: int) -> tuple[Response, int]:
    """Queue a `test` delivery (written to the outbox, then handed to RQ after the commit): 202."""
    runtime = get_runtime()
    with runtime.transaction() as session:
        delivery = queue_test_delivery(session, current_user_id(), db_id(webhook_id, "Webhook"))
        delivery_id = delivery.id
    dispatch_pending(runtime.sessions, runtime.settings, only_ids=[delivery_id])
    return success({"delivery_id": delivery_id, "status": "queued"}, 202)


@bp.get("/<int:webhook_id>/deliveries")
def deliveries(webhook_id: int) -> tuple[Response, int]:
    """The webhook's last 50 delivery attempts, newest first."""
    with get_runtime().transaction() as session:
        attempts = recent_attempts(session, current_user_id(), db_id(webhook_id, "Webhook"))
        items = [webhook_attempt_json(attempt) for attempt in attempts]
    return success({"items": items})
