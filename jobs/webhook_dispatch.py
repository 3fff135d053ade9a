"""Hand outbox rows to whoever delivers them: RQ (with Retry and backoff) or, in the embedded
default (no Redis), a small in-process thread pool that runs the same attempts.

Rows are claimed (`enqueued_at`) in one short transaction and handed over after its commit; a row
whose hand-over failed (Redis away) or whose RQ job vanished is claimed again later, so a crash
loses nothing (delivery is at least once: receivers dedupe on X-Pipeline-Delivery). Nothing here
waits on an endpoint: the processor cycle calls `dispatch_pending` and moves on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, get_current_job
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.models import WebhookDelivery
from db.session import make_engine, make_session_factory
from jobs.webhook_delivery import AttemptOutcome, attempt_delivery
from settings import Settings

log = logging.getLogger(__name__)

WEBHOOK_QUEUE = "pipeline-webhooks"
CLAIM_BATCH = 500
FINISHED_KEPT = timedelta(days=7)  # delivered/failed outbox rows; the attempts log keeps its own 50
JOB_TIMEOUT_SECONDS = 60

_embedded_pool: ThreadPoolExecutor | None = None  # process plumbing, no per-user state
_embedded_lock = threading.Lock()


class DeliveryFailed(RuntimeError):
    """Raised inside the RQ job so RQ schedules the next attempt (its Retry)."""


def stale_after(settings: Settings) -> timedelta:
    """A claimed row still pending after every retry pause (plus margin) lost its job: claim it again."""
    return timedelta(seconds=sum(settings.webhook_retry_seconds) + 15 * 60)


def claim_pending(
    session: Session, settings: Settings, *, now: datetime, only_ids: Sequence[int] | None = None
) -> list[int]:
    """Mark pending rows not yet handed over (or handed over too long ago) as enqueued now."""
    conditions = [
        WebhookDelivery.status == "pending",
        or_(WebhookDelivery.enqueued_at.is_(None), WebhookDelivery.enqueued_at < now - stale_after(settings)),
    ]
    if only_ids is not None:
        conditions.append(WebhookDelivery.id.in_(list(only_ids)))
    ids = list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(*conditions)
            .order_by(WebhookDelivery.id)
            .limit(CLAIM_BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids))
            .values(enqueued_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids


def dispatch_pending(
    sessions: sessionmaker[Session], settings: Settings, *, only_ids: Sequence[int] | None = None
) -> int:
    """Claim pending deliveries and hand them over; returns how many were handed over. The cycle's
    call (no `only_ids`) also drops finished outbox rows older than FINISHED_KEPT."""
    now = utcnow()
    with sessions.begin() as session:
        ids = claim_pending(session, settings, now=now, only_ids=only_ids)
        if only_ids is None:
            session.execute(
                delete(WebhookDelivery).where(
                    WebhookDelivery.status != "pending", WebhookDelivery.finished_at < now - FINISHED_KEPT
                )
            )
    if not ids:
        return 0
    if settings.redis_url is None:
        for delivery_id in ids:
            _pool().submit(deliver_in_process, settings, delivery_id)
        return len(ids)
    return _enqueue(sessions, settings, ids)


def _enqueue(sessions: sessionmaker[Session], settings: Settings, ids: list[int]) -> int:
    assert settings.redis_url is not None
    delays = list(settings.webhook_retry_seconds)
    retry = Retry(max=len(delays), interval=delays) if delays else None
    done = 0
    try:
        queue = Queue(WEBHOOK_QUEUE, connection=Redis.from_url(settings.redis_url, socket_timeout=5))
        for delivery_id in ids:
            queue.enqueue(
                deliver_webhook_task,
                delivery_id,
                job_id=f"webhook-{delivery_id}-{int(utcnow().timestamp() * 1000)}",
                description=f"webhook delivery {delivery_id}",
                retry=retry,
                job_timeout=JOB_TIMEOUT_SECONDS,
                result_ttl=3600,
                failure_ttl=86400,
            )
            done += 1
    except RedisError as exc:  # not handed over: the next cycle claims these again
        log.warning("could not enqueue %d webhook deliveries: %s", len(ids) - done, exc)
        with sessions.begin() as session:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids[done:]))
                .values(enqueued_at=None)
                .execution_options(synchronize_session=False)
            )
    return done


def deliver_webhook_task(delivery_id: int) -> str:
    """The RQ job (an id, never the payload or a secret): one attempt; raising makes RQ retry."""
    settings = Settings.from_env()
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        job = get_current_job()
        final = job is None or not job.retries_left
        outcome = attempt_delivery(make_session_factory(engine), settings, delivery_id, final=final)
    finally:
        engine.dispose()
    if outcome is AttemptOutcome.RETRY:
        raise DeliveryFailed(f"webhook delivery {delivery_id} failed; RQ retries it")
    return str(outcome)


def deliver_in_process(settings: Settings, delivery_id: int, stop: threading.Event | None = None) -> str:
    """The embedded default's delivery: the same attempts and pauses as RQ's Retry, in a thread."""
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    sessions = make_session_factory(engine)
    pauses = [0, *settings.webhook_retry_seconds]
    outcome = AttemptOutcome.SKIPPED
    try:
        for index, pause in enumerate(pauses):
            if pause and (stop or threading.Event()).wait(pause):
                break
            outcome = attempt_delivery(sessions, settings, delivery_id, final=index == len(pauses) - 1)
            if outcome is not AttemptOutcome.RETRY:
                break
    except Exception:  # a thread's failure must be logged; the row stays pending and is claimed again
        log.exception("embedded webhook delivery %s failed", delivery_id)
    finally:
        engine.dispose()
    return str(outcome)


def _pool() -> ThreadPoolExecutor:
    global _embedded_pool
    with _embedded_lock:
        if _embedded_pool is None:
            _embedded_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhook")
        return _embedded_pool
