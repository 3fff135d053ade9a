"""Which callback signatures the server has already accepted, so a replayed request gets 409.

A signature is valid only inside the timestamp window, so it is remembered for twice that window:
in Redis (`SET NX EX`, shared by every web process) or, in the single-process demo, an in-process
map. It is claimed before ingestion and released if ingestion fails, so a retry after a 5xx is not
told "already delivered" (docs/architecture.md §6).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from contract.signing import TOLERANCE_SECONDS

if TYPE_CHECKING:
    from redis import Redis

SEEN_TTL_SECONDS = 2 * TOLERANCE_SECONDS + 60
KEY_PREFIX = "pipeline:callback-seen:"
_MAX_LOCAL_ENTRIES = 100_000


class SeenSignatures:
    """Claim/release of signatures; `claim` is True only for the first caller with a signature."""

    def __init__(self, redis: Redis | None) -> None:
        self._redis = redis
        self._lock = threading.Lock()
        self._local: dict[str, float] = {}

    def claim(self, signature: str) -> bool:
        if self._redis is not None:
            return bool(self._redis.set(KEY_PREFIX + signature, b"1", nx=True, ex=SEEN_TTL_SECONDS))
        now = time.monotonic()
        with self._lock:
            expires = self._local.get(signature)
            if expires is not None and expires > now:
                return False
            if len(self._local) >= _MAX_LOCAL_ENTRIES:
                self._local = {key: until for key, until in self._local.items() if until > now}
            self._local[signature] = now + SEEN_TTL_SECONDS
            return True

    def release(self, signature: str) -> None:
        """Forget a claim whose delivery failed, so the sender's retry is processed."""
        if self._redis is not None:
            self._redis.delete(KEY_PREFIX + signature)
            return
        with self._lock:
            self._local.pop(signature, None)
