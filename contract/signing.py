"""Every HMAC signature PIPELINE issues or checks: dataset and adapter download URLs, training callbacks.

Keys derive from SECRET_KEY with a purpose string, so one kind of signature never verifies as
another. Dataset URLs: the cycle signs, the web's /storage route verifies. Adapter downloads: the
job API signs a link for one job *and one user*, the download route verifies it against the signed-in
user, so a link is useless to anyone else and after it expires. Callbacks: each job gets
its own secret (only that travels to the cluster); the trainer signs with `callback_headers`, and
`/api/training-callback` checks with `signature_problem`. Wire format: docs/callbacks.md.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode

TIMESTAMP_HEADER = "X-Pipeline-Timestamp"
SIGNATURE_HEADER = "X-Pipeline-Signature"
JOB_ID_HEADER = "X-Pipeline-Job-Id"
WEBHOOK_EVENT_HEADER = "X-Pipeline-Event"
WEBHOOK_DELIVERY_HEADER = "X-Pipeline-Delivery"
SIGNATURE_VERSION = "v1"
TOLERANCE_SECONDS = 300


DATASET_URL_TTL_SECONDS = 24 * 3600  # as the specification signs it: a cluster queue may hold a job for hours
STORAGE_PREFIX = "/storage/datasets/"
ARTIFACT_URL_TTL_SECONDS = 3600


def _purpose_signature(secret_key: str, purpose: str, message: str) -> str:
    """HMAC-SHA256 of `message` under a key derived from SECRET_KEY for one purpose only."""
    key = hmac.new(secret_key.encode(), f"pipeline:{purpose}".encode(), hashlib.sha256).digest()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def signed_dataset_url(
    secret_key: str,
    public_base_url: str,
    storage_path: str,
    *,
    ttl_seconds: int = DATASET_URL_TTL_SECONDS,
    now: float | None = None,
) -> str:
    """A time-limited URL under PUBLIC_BASE_URL from which the cluster downloads one dataset file."""
    expires = int((now if now is not None else time.time()) + ttl_seconds)
    path = STORAGE_PREFIX + quote(storage_path)
    signature = _purpose_signature(secret_key, "storage", f"{path}:{expires}")
    return f"{public_base_url.rstrip('/')}{path}?{urlencode({'expires': expires, 'signature': signature})}"


def verify_storage_signature(
    secret_key: str, path: str, expires: str | None, signature: str | None, *, now: float | None = None
) -> bool:
    """True only for an untampered, unexpired signature over exactly this path (constant-time)."""
    return _verify_expiring(secret_key, "storage", path, expires, signature, now)


def artifact_download_query(
    secret_key: str,
    job_id: str,
    user_id: int,
    *,
    ttl_seconds: int = ARTIFACT_URL_TTL_SECONDS,
    now: float | None = None,
) -> dict[str, str]:
    """`expires` and `signature` for one user's download of one job's adapter, for `ttl_seconds`."""
    expires = str(int((now if now is not None else time.time()) + ttl_seconds))
    signature = _purpose_signature(secret_key, "artifact", f"{job_id}:{user_id}:{expires}")
    return {"expires": expires, "signature": signature}


def verify_artifact_signature(
    secret_key: str,
    job_id: str,
    user_id: int,
    expires: str | None,
    signature: str | None,
    *,
    now: float | None = None,
) -> bool:
    """True only when this user holds an unexpired link signed for exactly this job (constant-time)."""
    return _verify_expiring(secret_key, "artifact", f"{job_id}:{user_id}", expires, signature, now)


def _verify_expiring(
    secret_key: str, purpose: str, subject: str, expires: str | None, signature: str | None, now: float | None
) -> bool:
    if not expires or not signature or not (expires.isascii() and expires.isdigit()):
        return False
    if int(expires) < (now if now is not None else time.time()):
        return False
    expected = _purpose_signature(secret_key, purpose, f"{subject}:{expires}")
    # Bytes, not str: compare_digest raises on a non-ASCII str, and a forged URL must get 403, not 500.
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def derive_job_secret(secret_key: str, job_id: str) -> str:
    """The per-job callback secret (hex). Deterministic, so any web process can re-derive it."""
    if not secret_key:
        raise ValueError("SECRET_KEY is empty: cannot derive a callback secret")
    if not job_id:
        raise ValueError("job_id is empty: cannot derive a callback secret")
    return _purpose_signature(secret_key, "callback", str(job_id))


def derive_webhook_secret(secret_key: str, salt: str) -> str:
    """An outgoing webhook's signing secret (hex), from SECRET_KEY and the webhook's stored salt:
    the database alone cannot sign, and any process holding SECRET_KEY can (docs/security.md)."""
    if not secret_key or not salt:
        raise ValueError("SECRET_KEY and the webhook's salt are needed to derive its secret")
    return _purpose_signature(secret_key, "webhook", salt)


def _digest(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def callback_headers(
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
