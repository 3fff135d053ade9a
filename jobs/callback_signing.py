"""Signatures on the status/metric callbacks a trainer (or a cluster) POSTs to PIPELINE.

One module for both ends: the trainer signs with `sign`, the `/api/training-callback` endpoint checks
with `verify`. Each job gets its own secret, derived from SECRET_KEY and the job id, and only that
derived secret travels to the cluster: a leaked job secret can write to its own job and nothing else,
and SECRET_KEY never leaves PIPELINE.

Wire format (Stripe-style, so a replayed body with a fresh timestamp does not verify):
    X-Pipeline-Timestamp: <unix seconds>
    X-Pipeline-Signature: v1=<hex HMAC-SHA256(job_secret, f"{timestamp}.{body}")>
    X-Pipeline-Job-Id:    <job id>  (tells the server which secret to derive; it is also signed,
                                     because the body carries the same job_id)
Replay protection inside the tolerance window (a seen signature → 409) is the server's job: it needs
storage, this module is pure.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from jobs.signing import sign as sign_for_purpose

TIMESTAMP_HEADER = "X-Pipeline-Timestamp"
SIGNATURE_HEADER = "X-Pipeline-Signature"
JOB_ID_HEADER = "X-Pipeline-Job-Id"
SIGNATURE_VERSION = "v1"
TOLERANCE_SECONDS = 300


def derive_job_secret(secret_key: str, job_id: str) -> str:
    """The per-job callback secret (hex). Deterministic, so any web process can re-derive it."""
    if not secret_key:
        raise ValueError("SECRET_KEY is empty: cannot derive a callback secret")
    if not job_id:
        raise ValueError("job_id is empty: cannot derive a callback secret")
    return sign_for_purpose(secret_key, "callback", str(job_id))


def _digest(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def sign(
    secret: str, timestamp: int | str | None, body: bytes | str, *, job_id: str | None = None
) -> dict[str, str]:
    """Headers that authenticate `body` (sent byte for byte as signed) at `timestamp` (default: now)."""
    stamp = str(int(time.time()) if timestamp is None else int(timestamp))
    headers = {
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={_digest(secret, stamp, _as_bytes(body))}",
    }
    if job_id is not None:
        headers[JOB_ID_HEADER] = str(job_id)
    return headers


def signature_problem(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes | str,
    *,
    now: float | None = None,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> str | None:
    """Why this request is not authentic (a short reason for logs and the 401 body), or None if it is."""
    if not timestamp or not signature:
        return "missing signature headers"
    if not (timestamp.isascii() and timestamp.isdigit()):  # "²".isdigit() is True; int() refuses it
        return "malformed timestamp"
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_seconds:
        return "timestamp outside the allowed window"
    version, _, received = signature.partition("=")
    if version != SIGNATURE_VERSION or not received:
        return "unsupported signature format"
    expected = _digest(secret, timestamp, _as_bytes(body))
    if not hmac.compare_digest(expected.encode(), received.strip().encode()):
        return "signature does not match"
    return None


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes | str,
    *,
    now: float | None = None,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> bool:
    """True only for an untampered body signed with `secret` within `tolerance_seconds` of now."""
    return (
        signature_problem(secret, timestamp, signature, body, now=now, tolerance_seconds=tolerance_seconds)
        is None
    )


def verify_headers(
    secret: str, headers: Mapping[str, str], body: bytes | str, *, now: float | None = None
) -> bool:
    """`verify` reading the timestamp and signature from request headers (any case-insensitive map)."""
    return verify(secret, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER), body, now=now)
