"""The GPU cluster contract client (docs/gpu-cluster-api.md): typed results in, typed errors out.

One ``ClusterClient`` per cluster holds one pooled ``httpx.Client`` with the base URL, the bearer
key and explicit timeouts. Transient failures (connection errors, timeouts, 429 with Retry-After,
5xx, garbled bodies) are retried a bounded number of times with exponential backoff, then raised as
``ClusterTransient``; everything else maps to the typed errors of contract/results.py on the first
answer (jobs/cluster_answers.py). Bodies are validated field by field in contract/parsing.py.

``poll_many`` asks for many jobs' status at once with bounded concurrency, so one slow job cannot
stall a cycle. Three strategies exist because the fastest was found by measuring
(benchmarks/poll_concurrency.py), not assumed; ``DEFAULT_POLL_MODE`` is the measured winner
(jobs/cluster_polling.py says why it is aiohttp).

The API key lives only in the HTTP clients' default headers. It is never part of a message, a log
line or a repr: httpx masks Authorization in its own reprs, and any text the cluster sends back is
scrubbed of the key before it goes into an exception.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Literal
from urllib.parse import quote

import httpx

from contract.parsing import parse_cancel_result, parse_status_report, parse_submit_result
from contract.results import (
    CancelResult,
    ClusterBackend,
    ClusterConfigError,
    ClusterError,
    ClusterTransient,
    JobStatusReport,
    PollOutcome,
    SubmitRequest,
    SubmitResult,
)
from jobs.cluster_answers import RetryableFailure, interpret_answer, scrub

PollMode = Literal["aiohttp", "async", "threads"]
DEFAULT_POLL_MODE: PollMode = "aiohttp"
DEFAULT_POLL_CONCURRENCY = 128  # measured: 1,000 polls at 50 ms 0.80 s (64: 1.03 s); 5,000: 4.2 s (64: 5.8 s)
POLL_POOL_SIZE = 16  # connections per httpx.AsyncClient pool in the "async" mode
POLL_THREADS_MAX = 48  # the "threads" mode got slower past ~48 threads (GIL contention), measured
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_BACKOFF_SECONDS = 0.2
# A whole poll_many sweep ends by then: jobs still unanswered get ClusterTransient, so a hung
# cluster cannot hold a 30 s cycle past its interval (read timeout x retries could otherwise).
DEFAULT_POLL_DEADLINE_SECONDS = 20.0


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
        poll_deadline_seconds: float | None = DEFAULT_POLL_DEADLINE_SECONDS,
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
        self.poll_deadline_seconds = poll_deadline_seconds
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._secret = api_key
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._limits = httpx.Limits(
            max_connections=self.poll_concurrency, max_keepalive_connections=self.poll_concurrency
        )
        self._injected_transport = transport is not None
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
        body = self._call("GET", self.status_path(external_job_id), params=_since(since_step))
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
        The sweep returns within ``poll_deadline_seconds`` (plus a moment): a job not answered by
        then gets ClusterTransient.
        """
        if not queries:
            return {}
        chosen = mode or self.poll_mode
        if chosen == "threads" or _loop_running() or self._injected_transport:
            # asyncio.run cannot nest inside a running loop, and an injected (test) transport only
            # serves the sync client: threads work in both cases.
            return self._poll_with_threads(queries)
        from jobs.cluster_polling import poll_with_aiohttp, poll_with_httpx

        sweep = poll_with_aiohttp if chosen == "aiohttp" else poll_with_httpx
        return asyncio.run(sweep(self, queries))

    # ---- shared with jobs/cluster_polling.py -----------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        """The request headers, bearer key included: for the sweep's own session, never for logs."""
        return dict(self._headers)

    def deadline_error(self, external_job_id: str) -> ClusterTransient:
        return ClusterTransient(
            f"cluster did not answer GET {self.status_path(external_job_id)} within the poll deadline "
            f"({self.poll_deadline_seconds:g} s)"
        )

    @staticmethod
    def status_path(external_job_id: str) -> str:
        return f"/training/status/{_segment(external_job_id)}"

    def interpret(
        self, where: str, code: int, retry_after: str | None, content: bytes, **options: Any
    ) -> Any:
        """jobs.cluster_answers.interpret_answer with this cluster's key scrubbed from messages."""
        return interpret_answer(where, code, retry_after, content, secret=self._secret, **options)

    def scrub(self, text: str) -> str:
        return scrub(text, self._secret)

    # ---- threads strategy and the one-call path ----------------------------------------------------

    def _poll_one(self, external_job_id: str, since_step: int | None) -> PollOutcome:
        try:
            return self.status(external_job_id, since_step=since_step)
        except ClusterError as exc:
            return exc

    def _poll_with_threads(self, queries: Mapping[str, int | None]) -> dict[str, PollOutcome]:
        workers = min(self.poll_concurrency, POLL_THREADS_MAX, len(queries))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cluster-poll")
        futures = {job: pool.submit(self._poll_one, job, since) for job, since in queries.items()}
        wait(futures.values(), timeout=self.poll_deadline_seconds)
        # Threads cannot be interrupted: late ones finish in the background, their answers unused.
        pool.shutdown(wait=False, cancel_futures=True)
        return {
            job: future.result() if future.done() and not future.cancelled() else self.deadline_error(job)
            for job, future in futures.items()
        }

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        allow_empty: bool = False,
    ) -> Any:
        where = f"{method} {path}"
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.request(method, path, json=json_body, params=params)
                return self.interpret(
                    where,
                    response.status_code,
                    response.headers.get("Retry-After"),
                    response.content,
                    allow_empty=allow_empty,
                )
            except httpx.TransportError as exc:
                failure = RetryableFailure(self._transport_error(where, exc))
            except RetryableFailure as exc:
                failure = exc
            if attempt == self.max_retries or not failure.may_wait:
                raise failure.error
            time.sleep(failure.delay(attempt, self.backoff_seconds))
        raise AssertionError("unreachable")  # pragma: no cover

    def _transport_error(self, where: str, exc: httpx.TransportError) -> ClusterTransient:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not be reached"
        detail = self.scrub(str(exc)) or type(exc).__name__
        return ClusterTransient(f"cluster {kind} on {where}: {type(exc).__name__}: {detail}")


def make_backend(settings: Any, **options: Any) -> ClusterBackend:
    """The cluster backend chosen by GPU_CLUSTER_BACKEND: the one place a backend is built.

    Raises:
        ClusterConfigError: a backend this build does not provide.
    """
    backend = getattr(settings, "gpu_cluster_backend", "http") or "http"
    if backend == "http":
        return ClusterClient.from_settings(settings, **options)
    if backend == "local":
        from jobs.local_backend import LocalBackend

        return LocalBackend.from_settings(settings, **options)
    if backend == "ray":
        from jobs.ray_backend import RayJobsBackend

        return RayJobsBackend.from_settings(settings, **options)
    raise ClusterConfigError(
        f"GPU_CLUSTER_BACKEND {backend!r} is not available (use 'http', 'ray' or 'local')"
    )


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _segment(external_job_id: str) -> str:
    """The id as one URL path segment (an id with '/' or '?' must not change the route)."""
    return quote(external_job_id, safe="")


def _since(since_step: int | None) -> dict[str, Any] | None:
    return None if since_step is None else {"since_step": since_step}
