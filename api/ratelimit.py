"""Fixed-window counters for login attempts: Redis when configured (shared by every web process),
the database otherwise (embedded mode has a single process and no Redis)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from db.base import utcnow
from db.models import LoginAttempt

if TYPE_CHECKING:
    from api.runtime import Runtime

WINDOW_SECONDS = 60


def count_attempt(runtime: Runtime, key: str) -> int:
    """Record one attempt under `key` and return how many fell in the current window."""
    if runtime.redis is not None:
        redis_key = f"pipeline:ratelimit:{key}"
        pipe = runtime.redis.pipeline()
        pipe.incr(redis_key)
        pipe.expire(redis_key, WINDOW_SECONDS, nx=True)
        count, _ = pipe.execute()
        return int(count)
    now = utcnow()
    with runtime.transaction() as session:
        session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - timedelta(seconds=WINDOW_SECONDS)))
        session.add(LoginAttempt(key=key[:300], at=now))
        session.flush()
        return int(session.scalar(select(func.count()).where(LoginAttempt.key == key[:300])) or 0)
