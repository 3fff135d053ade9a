"""HMAC signatures for URLs the cluster fetches without a session (dataset downloads).

The cycle signs, the web app's /storage route verifies: both derive the key from SECRET_KEY, so any
web process can check a URL any worker made. Purpose strings keep one signature from being replayed
as another kind.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode

DATASET_URL_TTL_SECONDS = 6 * 3600
STORAGE_PREFIX = "/storage/datasets/"


def _key(secret_key: str, purpose: str) -> bytes:
    return hmac.new(secret_key.encode(), f"pipeline:{purpose}".encode(), hashlib.sha256).digest()


def sign(secret_key: str, purpose: str, message: str) -> str:
    return hmac.new(_key(secret_key, purpose), message.encode(), hashlib.sha256).hexdigest()


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
    signature = sign(secret_key, "storage", f"{path}:{expires}")
    return f"{public_base_url.rstrip('/')}{path}?{urlencode({'expires': expires, 'signature': signature})}"


def verify_storage_signature(
    secret_key: str, path: str, expires: str | None, signature: str | None, *, now: float | None = None
) -> bool:
    """True only for an untampered, unexpired signature over exactly this path (constant-time)."""
    if not expires or not signature or not (expires.isascii() and expires.isdigit()):
        return False
    if int(expires) < (now if now is not None else time.time()):
        return False
    expected = sign(secret_key, "storage", f"{path}:{expires}")
    # Bytes, not str: compare_digest raises on a non-ASCII str, and a forged URL must get 403, not 500.
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
