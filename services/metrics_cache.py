"""The bucket summary of a job's sealed history, kept in Redis between requests.

Redis is a cache here (docs/architecture.md §1): losing it costs one recomputation, never data. The summary
covers steps up to `last_step - SEAL_MARGIN`; newer points are read from the table on every
request, so a point that arrives a little out of order (a callback racing a poll) is still
counted. A point later than the margin is picked up when the entry expires (TTL).
"""

from __future__ import annotations

import json
import logging
import struct
import sys
import uuid
import zlib
from array import array
from typing import TYPE_CHECKING, Any

from services.downsample import series_names
from services.metrics_buckets import BucketSummary

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)
TTL_SECONDS = 3600  # a late point older than SEAL_MARGIN steps shows up within this
PAYLOAD_TTL_SECONDS = 300
SEAL_MARGIN = 256
SAVE_EVERY_ROWS = 64  # re-save the summary only after this many newly sealed rows
_VERSION = 3


def _series_tag() -> str:
    """Short digest of the series list: a deploy that adds a metric never reads an older entry."""
    return f"{zlib.crc32(','.join(series_names()).encode()):08x}"


def _key(job_id: uuid.UUID, max_points: int) -> str:
    return f"pipeline:metrics-summary:v{_VERSION}:{_series_tag()}:{job_id}:{max_points}"


def payload_key(job_id: uuid.UUID, max_points: int, *parts: object) -> str:
    """Key of a finished payload: the job, the budget and everything that would change the answer
    (first/last step, the job row's updated_at, which the processor bumps whenever it ingests, and
    the catalogue's series)."""
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


_COLUMNS: tuple[tuple[str, str], ...] = (
    ("index", "q"),
    ("count", "q"),
    ("first_step", "q"),
    ("first_ts", "d"),
    ("last_step", "q"),
    ("last_ts", "d"),
)
_SERIES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("s_count", "q"),
    ("lo_step", "q"),
    ("lo_val", "d"),
    ("hi_step", "q"),
    ("hi_val", "d"),
)


def dumps(summary: BucketSummary) -> bytes:
    """A small JSON header, then every column as packed 8-byte machine values (no pickle: data only)."""
    header = json.dumps(
        {
            "width": summary.width,
            "upto": summary.upto_step,
            "total": summary.total,
            "n": len(summary.index),
            "names": summary.names,
            "first": summary.first,
            "last": summary.last,
            "byteorder": sys.byteorder,
        },
        separators=(",", ":"),
    ).encode()
    parts = [struct.pack("<I", len(header)), header]
    parts += [array(code, getattr(summary, name)).tobytes() for name, code in _COLUMNS]
    for name, code in _SERIES_COLUMNS:
        parts += [array(code, column).tobytes() for column in getattr(summary, name)]
    return b"".join(parts)


def loads(raw: bytes) -> BucketSummary:
    """Inverse of `dumps`. Raises ValueError on anything that is not a summary of this version."""
    (header_length,) = struct.unpack_from("<I", raw)
    header = json.loads(raw[4 : 4 + header_length])
    if header["byteorder"] != sys.byteorder:
        raise ValueError("summary written on a machine of another byte order")
    n = int(header["n"])
    names = tuple(header["names"])
    if names != series_names():
        raise ValueError("summary of another series list")
    offset = 4 + header_length
    if len(raw) != offset + 8 * n * (len(_COLUMNS) + len(_SERIES_COLUMNS) * len(names)):
        raise ValueError("summary has the wrong length")

    def column(code: str) -> list[Any]:
        nonlocal offset
        values = array(code)
        values.frombytes(raw[offset : offset + 8 * n])
        offset += 8 * n
        return values.tolist()

    summary = BucketSummary(
        width=int(header["width"]), upto_step=int(header["upto"]), total=int(header["total"]), names=names
    )
    for name, code in _COLUMNS:
        setattr(summary, name, column(code))
    for name, code in _SERIES_COLUMNS:
        setattr(summary, name, [column(code) for _ in names])
    summary.first = {name: (int(p[0]), float(p[1])) for name, p in header["first"].items()}
    summary.last = {name: (int(p[0]), float(p[1])) for name, p in header["last"].items()}
    return summary


def load(cache: Redis | None, job_id: uuid.UUID, max_points: int) -> BucketSummary | None:
    if cache is None:
        return None
    try:
        raw = cache.get(_key(job_id, max_points))
    except Exception as exc:  # any Redis failure means "no cache", never a failed request
        log.warning("metrics summary cache unavailable: %s", exc)
        return None
    if not isinstance(raw, bytes):  # missing (or a client with decode_responses, which cannot hold it)
        return None
    try:
        return loads(raw)
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        log.warning("discarding unreadable metrics summary for %s: %s", job_id, exc)
        return None


def save(cache: Redis | None, job_id: uuid.UUID, max_points: int, summary: BucketSummary) -> None:
    if cache is None:
        return
    try:
        cache.set(_key(job_id, max_points), dumps(summary), ex=TTL_SECONDS)
    except Exception as exc:
        log.warning("metrics summary cache unavailable: %s", exc)
