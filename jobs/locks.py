"""A Redis lock with an owner token and an expiry: held by one process, released only by it.

Used for "one cycle at a time" and "one scheduler enqueues". The expiry means a holder that dies
(SIGKILL, lost host) frees the lock by itself; the token means a holder whose lock expired cannot
release or extend the next holder's. A lock lost to a Redis flush or restart is simply acquired
again: PostgreSQL, not Redis, guarantees exactly-once (docs/architecture.md §1).
"""

from __future__ import annotations

import secrets

from redis import Redis

# Extend only if we still own it; take it if nobody does (e.g. after FLUSHDB). Returns 1 if held.
_RENEW = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
if not current then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLock:
    """`acquire()` once (non-blocking), or `hold()` repeatedly to take or keep it (leader election)."""

    def __init__(self, redis: Redis, key: str, *, ttl_seconds: float) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.token = secrets.token_hex(16)

    def acquire(self) -> bool:
        """Take the lock if free; False (immediately) if someone else holds it."""
        return bool(self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def hold(self) -> bool:
        """Take the lock if free, or extend it if ours; False while another owner holds it."""
        return bool(self.redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> bool:
        """Release if still ours (an expired lock now held by another is left alone)."""
        return bool(self.redis.eval(_RELEASE, 1, self.key, self.token))
