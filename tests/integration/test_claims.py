"""Two claimers at once on PostgreSQL: neither waits for the other, and no job is claimed twice.

Deterministic rather than a race: the first claimer's transaction stays open (its row locks held)
while the second claims. With `FOR UPDATE SKIP LOCKED` the second passes over the locked rows at
once; without it, it would queue behind them (here: fail on a short lock_timeout instead of hanging).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.models import JobEvent, JobStatus, TrainingJob
from jobs.claims import claim_jobs
from tests.factories import make_dataset, make_job

LEASE = 120.0


def _queue(sessions: sessionmaker[Session], owner: int, count: int) -> list[uuid.UUID]:
    """`count` queued jobs, oldest first (a second apart, so the claim order is fixed)."""
    start = utcnow() - timedelta(minutes=5)
    with sessions.begin() as session:
        dataset = make_dataset(session, owner)
        return [
            make_job(session, owner, dataset.id, queued_at=start + timedelta(seconds=i)).id
            for i in range(count)
        ]


def _impatient(session: Session) -> Session:
    """Give up on a row lock after 2 s instead of waiting for the other transaction to end."""
    session.execute(text("SET LOCAL lock_timeout = '2s'"))
    return session


def test_a_second_claimer_skips_the_rows_the_first_holds_and_never_waits(
    sessions: sessionmaker[Session], owner: int
) -> None:
    jobs = _queue(sessions, owner, 4)
    now = utcnow()
    with sessions() as first, sessions() as second:
        taken_first = claim_jobs(first, limit=2, lease_seconds=LEASE, now=now)  # locks held, not committed
        started = time.monotonic()
        taken_second = claim_jobs(_impatient(second), limit=2, lease_seconds=LEASE, now=now)
        waited = time.monotonic() - started
        second.commit()
        first.commit()
    assert waited < 1.0
    assert [c.job_id for c in taken_first] == jobs[:2]  # oldest first
    assert [c.job_id for c in taken_second] == jobs[2:]  # the next ones, not the locked ones
    tokens = {c.claim_token for c in taken_first + taken_second}
    assert len(tokens) == 4
    with sessions() as session:
        stored = {j.id: j for j in session.scalars(select(TrainingJob))}
        claimed_events = session.scalars(
            select(JobEvent.job_id).where(
                JobEvent.kind == "status_changed", JobEvent.to_status == "initializing"
            )
        ).all()
    assert {j.status for j in stored.values()} == {JobStatus.INITIALIZING.value}
    assert {stored[c.job_id].claim_token for c in taken_first + taken_second} == tokens
    assert sorted(claimed_events) == sorted(jobs)  # each job moved once


def test_when_every_claimable_row_is_held_the_second_claimer_gets_nothing_at_once(
    sessions: sessionmaker[Session], owner: int
) -> None:
    jobs = _queue(sessions, owner, 2)
    now = utcnow()
    with sessions() as first, sessions() as second:
        assert len(claim_jobs(first, limit=5, lease_seconds=LEASE, now=now)) == 2
        started = time.monotonic()
        assert claim_jobs(_impatient(second), limit=5, lease_seconds=LEASE, now=now) == []
        assert time.monotonic() - started < 1.0
        second.rollback()
        first.commit()
    with sessions() as session:
        statuses = session.scalars(select(TrainingJob.status).where(TrainingJob.id.in_(jobs))).all()
    assert statuses == [JobStatus.INITIALIZING.value] * 2


def test_a_job_left_initializing_is_claimed_again_once_its_lease_is_released_or_expired(
    sessions: sessionmaker[Session], owner: int
) -> None:
    """Never submitted (no cluster id): released after a transient submit error (claimed_at cleared),
    or its worker died and the lease ran out. A live lease is someone else's submission in flight."""
    now = utcnow()
    with sessions.begin() as session:
        dataset_id = make_dataset(session, owner).id

        def initializing(claimed_at: datetime | None, token: str) -> uuid.UUID:
            job = make_job(
                session,
                owner,
                dataset_id,
                status=JobStatus.INITIALIZING,
                claimed_at=claimed_at,
                claim_token=token,
            )
            return job.id

        released = initializing(None, "released")
        expired = initializing(now - timedelta(seconds=LEASE + 1), "expired")
        live = initializing(now - timedelta(seconds=LEASE - 10), "live")
    with sessions.begin() as session:
        claims = claim_jobs(session, limit=10, lease_seconds=LEASE, now=now)
    assert {c.job_id for c in claims} == {released, expired}
    assert all(c.reclaimed for c in claims)
    with sessions() as session:
        stored = {job.id: job for job in session.scalars(select(TrainingJob))}
    assert stored[live].claim_token == "live"  # untouched
    assert stored[released].claimed_at == now
