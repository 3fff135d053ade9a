"""The GPU cluster contract client (docs/gpu-cluster-api.md): typed results in, typed errors out.

One ``ClusterClient`` per cluster holds one pooled ``httpx.Client`` with the base URL, the bearer
key and explicit timeouts. Transient failures (connection errors, timeouts, 429 with Retry-After,
5xx, garbled bodies) are retried a bounded number of times with exponential backoff, then raised as
``ClusterTransient``; everything else maps to the typed errors of jobs/cluster_types.py on the first
answer. Bodies are validated field by field in jobs/cluster_parsing.py.

``poll_many`` asks for many jobs' status at once with bounded concurrency, so one slow job cannot
stall a cycle. Both strategies are implemented because the faster one was found by measuring
(benchmarks/poll_concurrency.py), not assumed; ``DEFAULT_POLL_MODE`` is the measured winner.

The API key lives only in the HTTP client's default headers. It is never part of a message, a log
line or a repr: httpx masks Authorization in its own reprs, and any text the cluster sends back is
scrubbed of the key before it goes into an exception.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from jobs.cluster_parsing import parse_cancel_result, parse_status_report, parse_submit_result
from jobs.cluster_types import (
    CancelResult,
    ClusterConfigError,
    ClusterError,
    ClusterMalformed,
    ClusterNotFound,
    ClusterRejected,
    ClusterTransient,
    JobStatusReport,
    PollOutcome,
    SubmitRequest,
    SubmitResult,
)

PollMode = Literal["async", "threads"]
DEFAULT_POLL_MODE: PollMode = "async"
DEFAULT_POLL_CONCURRENCY = 64
POLL_POOL_SIZE = 16  # connections per AsyncClient pool in poll_many (see _poll_async)
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_BACKOFF_SECONDS = 0.2
# A Retry-After longer than this is not waited for inside a cycle: the error says when to come back.
MAX_RETRY_WAIT_SECONDS = 5.0
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class _Retry(Exception):
    """Internal: this attempt failed transiently; ``error`` is raised if no attempt is left."""

    def __init__(self, error: ClusterTransient, wait: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.wait = wait


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:  # delta-seconds; fractions are not in the RFC but some servers send them
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


class ClusterClient:
    """Client of one GPU cluster speaking the HTTP contract; implements ``ClusterBackend``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        poll_concurrency: int = DEFAULT_POLL_CONCURRENCY,
        poll_mode: PollMode = DEFAULT_POLL_MODE,
        poll_pool_size: int = POLL_POOL_SIZE,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ClusterConfigError("GPU_CLUSTER_API_URL must be an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max(0, max_retries)
        self.backoff_seconds = backoff_seconds
        self.poll_concurrency = max(1, poll_concurrency)
        self.poll_mode: PollMode = poll_mode
        self.poll_pool_size = max(1, poll_pool_size)
        self._secret = api_key
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._limits = httpx.Limits(
            max_connections=self.poll_concurrency, max_keepalive_connections=self.poll_concurrency
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=self._headers,
            timeout=self._timeout,
            limits=self._limits,
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> ClusterClient:
        """The client for the cluster named by GPU_CLUSTER_API_URL / GPU_CLUSTER_API_KEY."""
        return cls(settings.gpu_cluster_api_url, settings.gpu_cluster_api_key, **options)

    def __repr__(self) -> str:
        return f"ClusterClient(base_url={self.base_url!r}, api_key='***')"

    def __enter__(self) -> ClusterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ---- the contract ----------------------------------------------------------------------------

    def submit(self, request: SubmitRequest) -> SubmitResult:
        """POST /training/submit. Safe to repeat: the same ``job_id`` gets the same external id.

        Raises:
            ClusterConfigError, ClusterRejected (400/422, with the cluster's message),
            ClusterTransient / ClusterMalformed after the bounded retries.
        """
        body = self._call("POST", "/training/submit", json_body=request.as_json())
        return parse_submit_result(body)

    def status(self, external_job_id: str, *, since_step: int | None = None) -> JobStatusReport:
        """GET /training/status/{id}[?since_step=S], validated field by field.

        Raises:
            ClusterNotFound (404), ClusterConfigError, ClusterTransient / ClusterMalformed.
        """
        body = self._call("GET", _status_path(external_job_id), params=_since(since_step))
        return parse_status_report(body, external_job_id, since_step)

    def cancel(self, external_job_id: str) -> CancelResult:
        """POST /training/cancel/{id}. Raises ClusterNotFound, ClusterConfigError, ClusterTransient."""
        body = self._call("POST", f"/training/cancel/{_segment(external_job_id)}", allow_empty=True)
        return parse_cancel_result(body, external_job_id)

    def poll_many(
        self, queries: Mapping[str, int | None], *, mode: PollMode | None = None
    ) -> dict[str, PollOutcome]:
        """Status of many jobs, at most ``poll_concurrency`` requests in flight.

        ``queries`` maps external job id → since_step (None for no history). Each job gets its own
        outcome: a JobStatusReport, or the ClusterError it ended with. Never raises for one job.
        """
        if not queries:
            return {}
        if (mode or self.poll_mode) == "threads" or _loop_running():
            # asyncio.run cannot nest inside a running loop; threads work from anywhere.
            return self._poll_with_threads(queries)
        return asyncio.run(self._poll_async(queries))

    # ---- polling strategies ----------------------------------------------------------------------

    def _poll_one(self, external_job_id: str, since_step: int | None) -> PollOutcome:
        try:
            return self.status(external_job_id, since_step=since_step)
        except ClusterError as exc:
            return exc

    def _poll_with_threads(self, queries: Mapping[str, int | None]) -> dict[str, PollOutcome]:
        workers = min(self.poll_concurrency, len(queries))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cluster-poll") as pool:
            futures = {job: pool.submit(self._poll_one, job, since) for job, since in queries.items()}
            return {job: future.result() for job, future in futures.items()}

    async def _poll_async(self, queries: Mapping[str, int | None]) -> dict[str, PollOutcome]:
        """Requests spread over several small AsyncClient pools.

        httpcore's pool does O(requests x connections) work on every request event, so one pool
        of 64 connections burns seconds of CPU on 1,000 polls; pools of POLL_POOL_SIZE keep that
        cost small (measured in benchmarks/poll_concurrency.py). An AsyncClient belongs to one
        event loop, so each poll_many run owns its pools for its duration.
        """
        shard_size = min(self.poll_pool_size, self.poll_concurrency)
        shards = max(1, math.ceil(self.poll_concurrency / shard_size))
        limits = httpx.Limits(max_connections=shard_size, max_keepalive_connections=shard_size)
        gates = [asyncio.Semaphore(shard_size) for _ in range(shards)]
        clients = [
            httpx.AsyncClient(
                base_url=self.base_url, headers=self._headers, timeout=self._timeout, limits=limits
            )
            for _ in range(shards)
        ]

        async def one(index: int, external_job_id: str, since_step: int | None) -> PollOutcome:
            async with gates[index % shards]:
                try:
                    path, params = _status_path(external_job_id), _since(since_step)
                    body = await self._call_async(clients[index % shards], path, params)
                    return parse_status_report(body, external_job_id, since_step)
                except ClusterError as exc:
                    return exc

        jobs = list(queries.items())
        try:
            outcomes = await asyncio.gather(*(one(i, job, since) for i, (job, since) in enumerate(jobs)))
        finally:
            for client in clients:
                await client.aclose()
        return {job: outcome for (job, _), outcome in zip(jobs, outcomes, strict=True)}

    # ---- one call with bounded retries ---------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        allow_empty: bool = False,
    ) -> Any:
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.request(method, path, json=json_body, params=params)
                return self._interpret(method, path, response, allow_empty=allow_empty)
            except httpx.TransportError as exc:
                retry = _Retry(self._transport_error(method, path, exc))
            except _Retry as exc:
                retry = exc
            if attempt == self.max_retries or not self._may_wait(retry):
                raise retry.error
            time.sleep(self._delay(attempt, retry))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call_async(self, http: httpx.AsyncClient, path: str, params: dict[str, Any] | None) -> Any:
        for attempt in range(self.max_retries + 1):
            try:
                response = await http.get(path, params=params)
                return self._interpret("GET", path, response, allow_empty=False)
            except httpx.TransportError as exc:
                retry = _Retry(self._transport_error("GET", path, exc))
            except _Retry as exc:
                retry = exc
            if attempt == self.max_retries or not self._may_wait(retry):
                raise retry.error
            await asyncio.sleep(self._delay(attempt, retry))
        raise AssertionError("unreachable")  # pragma: no cover

    def _may_wait(self, retry: _Retry) -> bool:
        return retry.wait is None or retry.wait <= MAX_RETRY_WAIT_SECONDS

    def _delay(self, attempt: int, retry: _Retry) -> float:
        backoff = self.backoff_seconds * (2**attempt)
        return max(backoff, retry.wait or 0.0)

    def _transport_error(self, method: str, path: str, exc: httpx.TransportError) -> ClusterTransient:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not be reached"
        detail = self._scrub(str(exc)) or type(exc).__name__
        return ClusterTransient(f"cluster {kind} on {method} {path}: {type(exc).__name__}: {detail}")

    def _interpret(self, method: str, path: str, response: httpx.Response, *, allow_empty: bool) -> Any:
        """The JSON body of a success; otherwise the typed error (or _Retry for transient ones)."""
        code = response.status_code
        where = f"{method} {path}"
        if 200 <= code < 300:
            if not response.content and allow_empty:
                return None
            try:
                return response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise _Retry(
                    ClusterMalformed(f"cluster answered {where} with a body that is not JSON")
                ) from None
        message = self._cluster_message(response)
        suffix = f": {message}" if message else ""
        if code in (401, 403):
            raise ClusterConfigError(
                f"cluster refused our credentials (HTTP {code}) on {where}; check GPU_CLUSTER_API_KEY",
                status_code=code,
            )
        if code == 404:
            raise ClusterNotFound(f"cluster does not know {where} (HTTP 404){suffix}", status_code=code)
        if code in _TRANSIENT_STATUS or code >= 500:
            wait = _retry_after_seconds(response.headers.get("Retry-After"))
            error = ClusterTransient(
                f"cluster answered HTTP {code} on {where}{suffix}", status_code=code, retry_after=wait
            )
            raise _Retry(error, wait)
        raise ClusterRejected(
            f"cluster rejected {where} (HTTP {code}){suffix}", status_code=code, cluster_message=message
        )

    def _cluster_message(self, response: httpx.Response) -> str:
        """The cluster's own explanation (``error``/``details``/``message``), scrubbed and bounded."""
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return ""
        if not isinstance(body, dict):
            return ""
        parts = [body[key] for key in ("error", "details", "message") if isinstance(body.get(key), str)]
        return self._scrub("; ".join(part for part in parts if part))[:500]

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _segment(external_job_id: str) -> str:
    """The id as one URL path segment (an id with '/' or '?' must not change the route)."""
    from urllib.parse import quote

    return quote(external_job_id, safe="")


def _status_path(external_job_id: str) -> str:
    return f"/training/status/{_segment(external_job_id)}"


def _since(since_step: int | None) -> dict[str, Any] | None:
    return None if since_step is None else {"since_step": since_step}
