"""The GPU cluster contract client (docs/gpu-cluster-api.md): typed results in, typed errors out.

One pooled client per cluster, with the bearer key and explicit timeouts; bounded retries for
transient failures; `poll_many` sweeps many jobs at once with bounded concurrency. The API key is
never part of a message, log line or repr (docs/architecture.md §7).
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from contract.parsing import parse_cancel_result, parse_status_report, parse_submit_result
from contract.results import (
    CancelResult,
    ClusterBackend,
    ClusterConfigError,
    JobStatusReport,
    PollOutcome,
    SubmitRequest,
    SubmitResult,
)
from jobs.cluster_answers import RetryableFailure, interpret_answer, transport_error
from jobs.cluster_polling import StatusQuery, StatusSweep
from settings import DEFAULT_POLL_CONCURRENCY

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
        poll_deadline_seconds: float | None = DEFAULT_POLL_DEADLINE_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network for submit/status/cancel (tests inject
        ``httpx.MockTransport``); ``poll_many`` always speaks HTTP to ``base_url``, through aiohttp."""
        if not base_url.startswith(("http://", "https://")):
            raise ClusterConfigError("GPU_CLUSTER_API_URL must be an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max(0, max_retries)
        self.backoff_seconds = backoff_seconds
        self.poll_concurrency = max(1, poll_concurrency)
        self.poll_deadline_seconds = poll_deadline_seconds
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._secret = api_key
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=self._headers,
            timeout=self._timeout,
            transport=transport,
            verify=tls_context(),
        )

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> ClusterClient:
        """The client for the cluster named by GPU_CLUSTER_API_URL / GPU_CLUSTER_API_KEY, polling
        POLL_CONCURRENCY jobs at once."""
        defaults = {"poll_concurrency": getattr(settings, "poll_concurrency", DEFAULT_POLL_CONCURRENCY)}
        return cls(settings.gpu_cluster_api_url, settings.gpu_cluster_api_key, **{**defaults, **options})

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
        body = self._call("POST", "/training/submit", json_body=request.as_json(with_secret=True))
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

    def poll_many(self, queries: Mapping[str, int | None]) -> dict[str, PollOutcome]:
        """Status of many jobs, at most ``poll_concurrency`` requests in flight.

        ``queries`` maps external job id → since_step (None for no history). Each job gets its own
        outcome: a JobStatusReport, or the ClusterError it ended with. Never raises for one job.
        The sweep returns within ``poll_deadline_seconds`` (plus a moment): a job not answered by
        then gets ClusterTransient.
        """
        if not queries:
            return {}
        sweep = StatusSweep(
            base_url=self.base_url,
            headers=self._headers,
            secret=self._secret,
            concurrency=self.poll_concurrency,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_retries=self.max_retries,
            backoff_seconds=self.backoff_seconds,
            deadline_seconds=self.poll_deadline_seconds,
        )
        return sweep.run([StatusQuery(job, _status_path(job), since) for job, since in queries.items()])

    # ---- the one-call path -------------------------------------------------------------------------

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
                return interpret_answer(
                    where,
                    response.status_code,
                    response.headers.get("Retry-After"),
                    response.content,
                    secret=self._secret,
                    allow_empty=allow_empty,
                )
            except httpx.TransportError as exc:
                timed_out = isinstance(exc, httpx.TimeoutException)
                failure = RetryableFailure(
                    transport_error(where, exc, timed_out=timed_out, secret=self._secret)
                )
            except RetryableFailure as exc:
                failure = exc
            if attempt == self.max_retries or not failure.may_wait:
                raise failure.error
            time.sleep(failure.delay(attempt, self.backoff_seconds))
        raise AssertionError("unreachable")  # pragma: no cover


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once per process and shared by every client:
    loading the CA bundle costs ~0.13 s of CPU, and the cycle builds a client each run."""
    return httpx.create_ssl_context()


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


def _segment(external_job_id: str) -> str:
    """The id as one URL path segment (an id with '/' or '?' must not change the route)."""
    return quote(external_job_id, safe="")


def _status_path(external_job_id: str) -> str:
    return f"/training/status/{_segment(external_job_id)}"


def _since(since_step: int | None) -> dict[str, Any] | None:
    return None if since_step is None else {"since_step": since_step}
