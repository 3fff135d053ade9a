"""A job's finished metrics payload, kept in Redis for a few minutes between requests.

Redis is a cache here (docs/architecture.md §1): losing it costs one computation from the rollups,
never data. The key holds everything that changes the answer, so an entry is never stale.
"""

from __future__ import annotations

import json
import logging
import uuid
import zlib
from typing import TYPE_CHECKING, Any

from services.downsample import series_names

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)
PAYLOAD_TTL_SECONDS = 300
_VERSION = 4


def _series_tag() -> str:
    """Short digest of the series list: a deploy that adds a metric never reads an older entry."""
    return f"{zlib.crc32(','.join(series_names()).encode()):08x}"


def payload_key(job_id: uuid.UUID, max_points: int, *parts: object) -> str:
    """Key of a finished payload: the job, the budget and everything that would change the answer
    (the rollups' first and last step and point count, the job's start, the catalogue's series)."""
    prefix = f"pipeline:metrics-payload:v{_VERSION}:{_series_tag()}:{job_id}:{max_points}:"
    return prefix + ":".join(map(str, parts))


def get_payload(cache: Redis | None, key: str) -> Any:
    if cache is None:
        return None
    try:
        raw = cache.get(key)
        return None if raw is None else json.loads(raw)
    except Exception as exc:  # Redis down or a corrupt entry: compute instead
        log.warning("metrics payload cache unavailable: %s", exc)
        return None


def put_payload(cache: Redis | None, key: str, payload: object) -> None:
    if cache is None:
        return
    try:
        cache.set(key, json.dumps(payload, separators=(",", ":")), ex=PAYLOAD_TTL_SECONDS)
    except Exception as exc:
        log.warning("metrics payload cache unavailable: %s", exc)
