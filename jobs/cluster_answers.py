"""What one HTTP answer from a cluster means: a JSON body, a typed error, or "try again" (and what
no answer at all means).

Kept apart from any HTTP library so the httpx calls (submit/status/cancel) and the aiohttp status
sweep (poll_many) classify answers identically: same status codes, same messages, same retry rules.
"""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime
from typing import Any

from contract.parsing import clean_text
from contract.results import (
    ClusterConfigError,
    ClusterMalformed,
    ClusterNotFound,
    ClusterRejected,
    ClusterTransient,
)

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# A Retry-After longer than this is not waited for inside a cycle: the error says when to come back.
MAX_RETRY_WAIT_SECONDS = 5.0


class RetryableFailure(Exception):
    """This attempt failed transiently; ``error`` is raised if no attempt is left."""

    def __init__(self, error: ClusterTransient, wait: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.wait = wait

    @property
    def may_wait(self) -> bool:
        return self.wait is None or self.wait <= MAX_RETRY_WAIT_SECONDS

    def delay(self, attempt: int, backoff_seconds: float) -> float:
        """Exponential backoff from ``backoff_seconds``, never shorter than Retry-After."""
        return max(backoff_seconds * (2**attempt), self.wait or 0.0)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds (fractions tolerated) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:  # fractions are not in the RFC, but some servers send them
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return seconds if seconds >= 0 and seconds == seconds else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def transport_error(where: str, exc: BaseException, *, timed_out: bool, secret: str) -> ClusterTransient:
    """No answer to ``where`` ("METHOD /path"): a timeout or a connection that failed."""
    kind = "timed out" if timed_out else "could not be reached"
    detail = scrub(str(exc), secret) or type(exc).__name__
    return ClusterTransient(f"cluster {kind} on {where}: {type(exc).__name__}: {detail}")


def cluster_message(content: bytes, secret: str) -> str:
    """The cluster's own explanation (``error``/``details``/``message``), scrubbed and bounded."""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [body[key] for key in ("error", "details", "message") if isinstance(body.get(key), str)]
    return clean_text(scrub("; ".join(part for part in parts if part), secret), 500)


def interpret_answer(
    where: str, code: int, retry_after: str | None, content: bytes, *, secret: str, allow_empty: bool = False
) -> Any:
    """The JSON body of a 2xx answer. Otherwise raises the typed error for ``code``, or
    RetryableFailure (wrapping ClusterTransient/ClusterMalformed) when another attempt may succeed.

    ``where`` is "METHOD /path" for messages; ``secret`` is scrubbed from any text the cluster sent.
    """
    if 200 <= code < 300:
        if not content and allow_empty:
            return None
        try:
            return json.loads(content)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: JSON nested past Python's recursion limit, one job's answer; it must
            # not escape and end the whole sweep (docs/architecture.md §5).
            raise RetryableFailure(
                ClusterMalformed(f"cluster answered {where} with a body that is not usable JSON")
            ) from None
    message = cluster_message(content, secret)
    suffix = f": {message}" if message else ""
    if code in (401, 403):
        raise ClusterConfigError(
            f"cluster refused our credentials (HTTP {code}) on {where}; check GPU_CLUSTER_API_KEY",
            status_code=code,
        )
    if code == 404:
        raise ClusterNotFound(f"cluster does not know {where} (HTTP 404){suffix}", status_code=code)
    if code in TRANSIENT_STATUS or code >= 500:
        wait = retry_after_seconds(retry_after)
        error = ClusterTransient(
            f"cluster answered HTTP {code} on {where}{suffix}", status_code=code, retry_after=wait
        )
        raise RetryableFailure(error, wait)
    raise ClusterRejected(
        f"cluster rejected {where} (HTTP {code}){suffix}", status_code=code, cluster_message=message
    )
