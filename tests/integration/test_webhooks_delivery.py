"""Outgoing webhooks delivered for real: PostgreSQL, Redis, a burst RQ worker in its own process and
a receiver of our own on loopback (WEBHOOKS_ALLOW_PRIVATE=true, as an on-premise install would)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from contract.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_problem
from db.models import WebhookAttempt, WebhookDelivery
from jobs.webhook_delivery import AttemptOutcome, attempt_delivery
from jobs.webhook_dispatch import dispatch_pending
from services.webhooks import create_webhook, queue_test_delivery
from settings import Settings
from tests.cycle_harness import all_terminal, cycle, cycle_until, queue_jobs
from tests.webhook_receiver import loopback_receiver, run_burst_worker


def _webhook(
    sessions: sessionmaker[Session], settings: Settings, user_id: int, url: str, events: list[str], **extra
) -> tuple[int, str]:
    with sessions.begin() as session:
        created = create_webhook(
            session,
            user_id,
            url=url,
            events=events,
            secret_key=settings.secret_key,
            allow_private=True,
            **extra,
        )
        return created.webhook.id, created.secret


def _deliveries(sessions: sessionmaker[Session], webhook_id: int) -> list[WebhookDelivery]:
    with sessions() as session:
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.id)
        )
        return list(session.scalars(query))


def _attempts(sessions: sessionmaker[Session], webhook_id: int) -> list[WebhookAttempt]:
    with sessions() as session:
        query = (
            select(WebhookAttempt).where(WebhookAttempt.webhook_id == webhook_id).order_by(WebhookAttempt.id)
        )
        return list(session.scalars(query))


def test_a_job_completing_through_the_cycle_is_delivered_signed(
    cycle_settings, sessions, owner, tmp_path: Path
) -> None:
    settings = cycle_settings.with_overrides(webhooks_allow_private=True)
    with loopback_receiver() as receiver:
        webhook_id, secret = _webhook(sessions, settings, owner, receiver.url(), ["job_completed"])
        (job_id,) = queue_jobs(sessions, owner)
        cycle_until(settings, sessions, all_terminal(sessions, [job_id]))
        cycle(settings, sessions)  # the delivery was enqueued by the cycle that finished the job
        (delivery,) = _deliveries(sessions, webhook_id)  # job_started was not chosen: one row
        assert delivery.event == "job_completed"
        assert delivery.enqueued_at is not None
        assert receiver.requests == []  # the cycle only enqueued
        run_burst_worker(settings, tmp_path)

        (request,) = receiver.requests
    assert request.path == "/hook"
    headers = request.headers
    assert headers["x-pipeline-event"] == "job_completed"
    assert headers["x-pipeline-delivery"] == str(delivery.id)
    stamp, signature = headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()]
    assert signature_problem(secret, stamp, signature, request.body) is None
    assert signature_problem("another-secret", stamp, signature, request.body) == "signature does not match"
    body = json.loads(request.body)
    assert (body["event"], body["job_id"], body["status"]) == ("job_completed", str(job_id), "completed")
    assert body["url"].endswith(f"/training/jobs/{job_id}")
    (done,) = _deliveries(sessions, webhook_id)
    assert (done.status, done.attempts) == ("delivered", 1)
    (attempt,) = _attempts(sessions, webhook_id)
    assert (attempt.status_code, attempt.error) == (200, None)
    assert attempt.latency_ms > 0


def test_a_500_is_retried_with_backoff_until_delivered(settings, sessions, owner, tmp_path: Path) -> None:
    settings = settings.with_overrides(webhooks_allow_private=True, webhook_retry_seconds=(2, 4))
    with loopback_receiver() as receiver:
        receiver.statuses = [500, 503]
        webhook_id, _ = _webhook(
            sessions, settings, owner, receiver.url(), ["job_failed"], body_format="slack"
        )
        with sessions.begin() as session:
            delivery_id = queue_test_delivery(session, owner, webhook_id).id
        assert dispatch_pending(sessions, settings) == 1
        deadline = time.monotonic() + 30
        while _deliveries(sessions, webhook_id)[0].status == "pending" and time.monotonic() < deadline:
            run_burst_worker(settings, tmp_path)  # a burst also moves retries that came due
            time.sleep(0.3)
        requests = list(receiver.requests)
    assert [list(json.loads(r.body)) for r in requests] == [["text"]] * 3  # the Slack body
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(requests)]
    # RQ keeps a retry's due time in whole seconds (rounded down), so each wait is at least its
    # interval less one second: 2 s and 4 s, then, never the back-to-back of no backoff.
    assert gaps[0] >= 1.0
    assert gaps[1] >= 3.0
    (delivery,) = _deliveries(sessions, webhook_id)
    assert (delivery.id, delivery.status, delivery.attempts) == (delivery_id, "delivered", 3)
    assert [(a.status_code, a.error) for a in _attempts(sessions, webhook_id)] == [
        (500, "HTTP 500"),
        (503, "HTTP 503"),
        (200, None),
    ]


def test_the_last_failed_attempt_gives_up(settings, sessions, owner) -> None:
    settings = settings.with_overrides(webhooks_allow_private=True)
    with loopback_receiver() as receiver:
        receiver.statuses = [500]
        webhook_id, _ = _webhook(sessions, settings, owner, receiver.url(), ["job_failed"])
        with sessions.begin() as session:
            delivery_id = queue_test_delivery(session, owner, webhook_id).id
        assert attempt_delivery(sessions, settings, delivery_id, final=False) is AttemptOutcome.RETRY
        receiver.statuses = [500]
        assert attempt_delivery(sessions, settings, delivery_id, final=True) is AttemptOutcome.GAVE_UP
        assert attempt_delivery(sessions, settings, delivery_id, final=True) is AttemptOutcome.SKIPPED
        assert len(receiver.requests) == 2
    (delivery,) = _deliveries(sessions, webhook_id)
    assert (delivery.status, delivery.attempts) == ("failed", 2)


def test_a_hanging_endpoint_never_slows_the_cycle(cycle_settings, sessions, owner) -> None:
    settings = cycle_settings.with_overrides(webhooks_allow_private=True)
    with loopback_receiver() as receiver:
        receiver.delay_seconds = 5.0
        webhook_id, _ = _webhook(sessions, settings, owner, receiver.url(), ["job_started"])
        queue_jobs(sessions, owner)
        started = time.perf_counter()
        summary = cycle(settings, sessions)  # starts the job: writes job_started and enqueues it
        seconds = time.perf_counter() - started
        assert summary.submitted == 1
        (delivery,) = _deliveries(sessions, webhook_id)
        assert delivery.enqueued_at is not None
        assert receiver.requests == []
    assert seconds < 2.0, f"the cycle took {seconds:.2f} s"


def test_the_target_is_checked_again_at_delivery_time(settings, sessions, owner) -> None:
    saved_when_allowed = settings.with_overrides(webhooks_allow_private=True)
    with loopback_receiver() as receiver:
        webhook_id, _ = _webhook(sessions, saved_when_allowed, owner, receiver.url(), ["job_failed"])
        with sessions.begin() as session:
            delivery_id = queue_test_delivery(session, owner, webhook_id).id
        strict = settings.with_overrides(webhooks_allow_private=False)
        assert attempt_delivery(sessions, strict, delivery_id, final=True) is AttemptOutcome.GAVE_UP
        assert receiver.requests == []
    (attempt,) = _attempts(sessions, webhook_id)
    assert attempt.status_code is None
    assert attempt.error is not None
    assert "loopback" in attempt.error


def test_a_redirect_is_not_followed(settings, sessions, owner) -> None:
    settings = settings.with_overrides(webhooks_allow_private=True)
    with loopback_receiver() as receiver:
        webhook_id, _ = _webhook(sessions, settings, owner, receiver.url("/redirect"), ["job_failed"])
        with sessions.begin() as session:
            delivery_id = queue_test_delivery(session, owner, webhook_id).id
        assert attempt_delivery(sessions, settings, delivery_id, final=True) is AttemptOutcome.GAVE_UP
        assert [r.path for r in receiver.requests] == ["/redirect"]
    (attempt,) = _attempts(sessions, webhook_id)
    assert (attempt.status_code, attempt.error) == (302, "redirect not followed (302)")


def test_the_embedded_default_delivers_without_redis(sqlite_settings, sqlite_runtime, tmp_path: Path) -> None:
    from tests.accounts import make_user

    settings = sqlite_settings.with_overrides(webhooks_allow_private=True)
    sessions = sqlite_runtime.sessions
    user_id = make_user(sqlite_runtime, "embedded@example.com")
    with loopback_receiver() as receiver:
        webhook_id, secret = _webhook(sessions, settings, user_id, receiver.url(), ["job_completed"])
        with sessions.begin() as session:
            queue_test_delivery(session, user_id, webhook_id)
        assert dispatch_pending(sessions, settings) == 1  # a thread of this process delivers
        deadline = time.monotonic() + 10
        while not _attempts(sessions, webhook_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        (request,) = receiver.requests
    headers = request.headers
    assert (
        signature_problem(
            secret, headers["x-pipeline-timestamp"], headers["x-pipeline-signature"], request.body
        )
        is None
    )
    assert _deliveries(sessions, webhook_id)[0].status == "delivered"
