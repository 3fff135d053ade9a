"""The outbox rows a notification writes, in its own transaction: keyed by notification type (and a
budget stop's refinement), only for the owner's enabled webhooks that chose the event."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.models import JobStatus, Notification, Webhook, WebhookDelivery
from jobs.budgets import stop_for_budget
from services.notifications import add_notification
from services.webhooks import create_webhook
from tests.accounts import SECRET
from tests.factories import make_dataset, make_job

PUBLIC = "https://93.184.215.14/hook"


def _hook(session: Session, user_id: int, events: list[str]) -> int:
    return create_webhook(
        session, user_id, url=PUBLIC, events=events, secret_key=SECRET, allow_private=False
    ).webhook.id


def _rows(sessions: sessionmaker[Session]) -> dict[int, list[str]]:
    with sessions() as session:
        found: dict[int, list[str]] = {}
        for row in session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)):
            found.setdefault(row.webhook_id, []).append(row.event)
        return found


def test_a_budget_stop_reaches_budget_stop_and_cancelled_webhooks_only(sessions, owner) -> None:
    with sessions.begin() as session:
        budget_only = _hook(session, owner, ["budget_stop"])
        any_cancel = _hook(session, owner, ["job_cancelled"])
        completed = _hook(session, owner, ["job_completed"])
        dataset = make_dataset(session, owner)
        job = make_job(
            session,
            owner,
            dataset.id,
            status=JobStatus.RUNNING,
            started_at=utcnow() - timedelta(hours=1),
            budget_limit=Decimal("1.00"),
        )
        job_id = job.id
    with sessions.begin() as session:
        assert stop_for_budget(session, job_id, now=utcnow())
    rows = _rows(sessions)
    assert rows == {budget_only: ["budget_stop"], any_cancel: ["budget_stop"]}
    assert completed not in rows


def test_rows_are_written_with_the_notification_or_not_at_all(sessions, owner, runtime) -> None:
    from tests.accounts import make_user

    other = make_user(runtime, "other@example.com")
    with sessions.begin() as session:
        mine = _hook(session, owner, ["health_warning"])
        _hook(session, other, ["health_warning"])  # another user's: never for my notification
        disabled = _hook(session, owner, ["health_warning"])
        session.execute(update(Webhook).where(Webhook.id == disabled).values(enabled=False))

    def warn(session: Session) -> None:
        add_notification(
            session, Notification(user_id=owner, type="health_warning", title="Loss exploding", message="x")
        )

    def fails_after_adding() -> None:
        with sessions.begin() as session:
            warn(session)
            raise RuntimeError("the transaction fails after the notification was added")

    with pytest.raises(RuntimeError):
        fails_after_adding()
    assert _rows(sessions) == {}
    with sessions.begin() as session:
        warn(session)
    assert _rows(sessions) == {mine: ["health_warning"]}


def test_rows_redis_could_not_take_are_enqueued_by_a_later_cycle(settings, sessions, owner) -> None:
    from jobs.webhook_dispatch import dispatch_pending
    from services.webhooks import queue_test_delivery
    from tests.ports import free_port

    with sessions.begin() as session:
        hook = _hook(session, owner, ["job_failed"])
        delivery_id = queue_test_delivery(session, owner, hook).id
    redis_away = settings.with_overrides(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert dispatch_pending(sessions, redis_away) == 0
    with sessions() as session:
        assert session.get(WebhookDelivery, delivery_id).enqueued_at is None  # still owed
    assert dispatch_pending(sessions, settings) == 1
    assert dispatch_pending(sessions, settings) == 0  # handed over once, not every cycle
