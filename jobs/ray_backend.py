"""GPU_CLUSTER_BACKEND=ray: run PIPELINE jobs as Ray jobs through Ray's Jobs REST API (RAY_ADDRESS).

Only httpx on PIPELINE's side; the cluster's image needs the trainer. `submission_id` is our job id
(a duplicate answers 500 "already exists", treated as accepted); Ray's statuses map onto ours and
the answer goes through the contract parser; cancel stops the job with a grace period long enough
to save the adapter. The mapping, field by field: docs/backends.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from contract.parsing import parse_status_report
from contract.results import (
    CancelResult,
    ClusterConfigError,
    ClusterError,
    ClusterJobStatus,
    ClusterMalformed,
    ClusterTransient,
    JobStatusReport,
    PollOutcome,
    SubmitRequest,
    SubmitResult,
)
from contract.signing import derive_job_secret
from jobs.cluster_answers import RetryableFailure, interpret_answer

RAY_STATUS = {
    "PENDING": ClusterJobStatus.QUEUED,
    "RUNNING": ClusterJobStatus.RUNNING,
    "SUCCEEDED": ClusterJobStatus.COMPLETED,
    "FAILED": ClusterJobStatus.FAILED,
    "STOPPED": ClusterJobStatus.CANCELLED,
}
METRIC_PREFIX = "METRIC "  # what trainer/reporter.py prints before each JSON payload
SPEC_ENV = "PIPELINE_JOB_SPEC"  # trainer/spec.py reads the same names
SECRET_ENV = "PIPELINE_CALLBACK_SECRET"
DEFAULT_ENTRYPOINT = "python -m trainer"
DEFAULT_STOP_GRACE_SECONDS = 30  # one GPU step plus the adapter save; Ray's own default is 3 s
DEFAULT_POLL_CONCURRENCY = 16
DEFAULT_POLL_DEADLINE_SECONDS = 20.0
MAX_MESSAGE = 500


class RayJobsBackend:
    """A ``ClusterBackend`` (contract/results.py) over the Ray Jobs REST API."""

    def __init__(
        self,
        address: str,
        *,
        secret_key: str,
        entrypoint: str = DEFAULT_ENTRYPOINT,
        request_gpus: bool = True,
        stop_grace_seconds: int = DEFAULT_STOP_GRACE_SECONDS,
        env_vars: Mapping[str, str] | None = None,
        log_metrics: bool = True,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        max_retries: int = 2,
        backoff_seconds: float = 0.2,
        poll_concurrency: int = DEFAULT_POLL_CONCURRENCY,
        poll_deadline_seconds: float = DEFAULT_POLL_DEADLINE_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not address.startswith(("http://", "https://")):
            raise ClusterConfigError(
                "RAY_ADDRESS must be the Ray dashboard's http:// URL (e.g. http://ray-head:8265)"
            )
        if not secret_key:
            raise ClusterConfigError("the ray backend needs SECRET_KEY to derive per-job callback secrets")
        self.address = address.rstrip("/")
        self.entrypoint = entrypoint
        self.request_gpus = request_gpus
        self.stop_grace_seconds = stop_grace_seconds
        self.env_vars = dict(env_vars or {})
        self.log_metrics = log_metrics
        self.max_retries = max(0, max_retries)
        self.backoff_seconds = backoff_seconds
        self.poll_concurrency = max(1, poll_concurrency)
        self.poll_deadline_seconds = poll_deadline_seconds
        self._secret_key = secret_key
        self._http = httpx.Client(
            base_url=self.address,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            headers={"Accept": "application/json"},
            limits=httpx.Limits(max_connections=self.poll_concurrency),
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> RayJobsBackend:
        """The backend for the Ray cluster named by RAY_ADDRESS."""
        defaults: dict[str, Any] = {
            "entrypoint": getattr(settings, "ray_entrypoint", DEFAULT_ENTRYPOINT),
            "request_gpus": getattr(settings, "ray_request_gpus", True),
        }
        return cls(settings.ray_address, secret_key=settings.secret_key, **{**defaults, **options})

    def __repr__(self) -> str:
        return f"RayJobsBackend(address={self.address!r})"

    def close(self) -> None:
        self._http.close()

    # ---- the backend protocol ------------------------------------------------------------------

    def submit(self, request: SubmitRequest) -> SubmitResult:
        """Submit the trainer as Ray job ``request.job_id``; a duplicate counts as accepted."""
        body = self.job_payload(request)
        answer = self._call("POST", "/api/jobs/", json_body=body, duplicate_ok=True)
        if answer is _DUPLICATE:
            details = self._call("GET", _job_path(request.job_id))
            status = _ray_status(details)
            return SubmitResult(
                external_job_id=request.job_id,
                status=status,
                notes=("Ray already had this submission_id: accepted, not run twice",),
            )
        return SubmitResult(external_job_id=request.job_id, status=ClusterJobStatus.QUEUED)

    def job_payload(self, request: SubmitRequest) -> dict[str, Any]:
        """The JSON body of POST /api/jobs/ for ``request`` (public for docs and tests)."""
        env = {
            **self.env_vars,
            SPEC_ENV: json.dumps(request.as_json(), separators=(",", ":")),
            "RAY_JOB_STOP_WAIT_TIME_S": str(self.stop_grace_seconds),
        }
        if request.callback_url:
            env[SECRET_ENV] = request.callback_secret or derive_job_secret(self._secret_key, request.job_id)
        payload: dict[str, Any] = {
            "entrypoint": self.entrypoint,
            "submission_id": request.job_id,
            "runtime_env": {"env_vars": env},
            "metadata": {"pipeline_job_id": request.job_id},
        }
        gpus = _gpu_count(request.gpu_config)
        if self.request_gpus and gpus:
            payload["entrypoint_num_gpus"] = gpus
        return payload

    def status(self, external_job_id: str, *, since_step: int | None = None) -> JobStatusReport:
        """The Ray job's status, with METRIC log lines as ``metrics_history`` when enabled."""
        details = self._call("GET", _job_path(external_job_id))
        status = _ray_status(details)
        notes: list[str] = []
        payloads: list[dict[str, Any]] = []
        if self.log_metrics and status is not ClusterJobStatus.QUEUED:
            try:
                logs = self._call("GET", _job_path(external_job_id) + "/logs")
                payloads = parse_metric_lines(_text_of(logs, "logs"))
            except ClusterError as exc:  # the status is still worth reporting without the log
                notes.append(f"Ray job log unavailable: {exc.message}")
        body = build_status_body(details, status, payloads, with_history=self.log_metrics)
        report = parse_status_report(body, external_job_id, since_step)
        if notes:
            report = _with_notes(report, notes)
        return report

    def cancel(self, external_job_id: str) -> CancelResult:
        """POST /api/jobs/{id}/stop; stopping a finished job is not an error."""
        self._call("POST", _job_path(external_job_id) + "/stop")
        return CancelResult(external_job_id=external_job_id)

    def poll_many(self, queries: Mapping[str, int | None]) -> dict[str, PollOutcome]:
        """Each job's status or its error, at most ``poll_concurrency`` in flight, within the deadline."""
        if not queries:
            return {}
        workers = min(self.poll_concurrency, len(queries))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ray-poll")
        futures = {job: pool.submit(self._poll_one, job, since) for job, since in queries.items()}
        wait(futures.values(), timeout=self.poll_deadline_seconds)
        pool.shutdown(wait=False, cancel_futures=True)
        return {
            job: future.result()
            if future.done() and not future.cancelled()
            else ClusterTransient(f"Ray did not answer for job {job} within {self.poll_deadline_seconds:g} s")
            for job, future in futures.items()
        }

    # ---- HTTP --------------------------------------------------------------------------------------

    def _poll_one(self, external_job_id: str, since_step: int | None) -> PollOutcome:
        try:
            return self.status(external_job_id, since_step=since_step)
        except ClusterError as exc:
            return exc

    def _call(self, method: str, path: str, *, json_body: Any = None, duplicate_ok: bool = False) -> Any:
        where = f"{method} {path}"
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.request(method, path, json=json_body)
                if duplicate_ok and response.status_code == 500 and b"already exists" in response.content:
                    return _DUPLICATE
                return interpret_answer(
                    where,
                    response.status_code,
                    response.headers.get("Retry-After"),
                    _as_error_json(response.status_code, response.content),
                    secret="",
                )
            except httpx.TransportError as exc:
                kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not be reached"
                failure = RetryableFailure(ClusterTransient(f"Ray {kind} on {where}: {type(exc).__name__}"))
            except RetryableFailure as exc:
                failure = exc
            if attempt == self.max_retries or not failure.may_wait:
                raise failure.error
            time.sleep(failure.delay(attempt, self.backoff_seconds))
        raise AssertionError("unreachable")  # pragma: no cover


_DUPLICATE = object()


def parse_metric_lines(log: str) -> list[dict[str, Any]]:
    """Every ``METRIC {json}`` payload in a job log, in order; other and garbled lines are skipped."""
    payloads = []
    for line in log.splitlines():
        start = line.find(METRIC_PREFIX)
        if start < 0:
            continue
        try:
            value = json.loads(line[start + len(METRIC_PREFIX) :])
        except ValueError:
            continue
        if isinstance(value, dict):
            payloads.append(value)
    return payloads


def build_status_body(
    details: Mapping[str, Any],
    status: ClusterJobStatus,
    payloads: list[dict[str, Any]],
    *,
    with_history: bool,
) -> dict[str, Any]:
    """A contract-shaped status body: the trainer's last payload, Ray's status, merged history.

    Ray's status wins over the trainer's (the process may have died after its last line). Points
    of one step reported twice (a training point, then its validation loss) are merged.
    """
    body: dict[str, Any] = dict(payloads[-1]) if payloads else {}
    body.pop("job_id", None)
    body["status"] = status.value
    if status is ClusterJobStatus.QUEUED:
        body["stage"] = "initializing"
    if status is ClusterJobStatus.FAILED:
        ray_message = _bounded(details.get("message"))
        trainer_error = body.get("error") if isinstance(body.get("error"), str) else None
        parts = [part for part in (trainer_error, ray_message) if part]
        body["error"] = " | ".join(parts) if parts else "the Ray job failed"
    body.setdefault("started_at", _iso_from_ms(details.get("start_time")))
    if status.is_terminal and not body.get("finished_at"):
        body["finished_at"] = _iso_from_ms(details.get("end_time"))
    if with_history:
        merged: dict[int, dict[str, Any]] = {}
        for payload in payloads:
            for point in payload.get("metrics_history") or ():
                if isinstance(point, dict) and isinstance(point.get("step"), int):
                    into = merged.setdefault(point["step"], {})
                    into.update({key: value for key, value in point.items() if value is not None})
        body["metrics_history"] = [merged[step] for step in sorted(merged)]
    else:
        body.pop("metrics_history", None)
    return body


def _ray_status(details: Any) -> ClusterJobStatus:
    raw = details.get("status") if isinstance(details, dict) else None
    if raw not in RAY_STATUS:
        raise ClusterMalformed(f"Ray reported an unknown job status {str(raw)[:40]!r}")
    return RAY_STATUS[raw]


def _gpu_count(gpu_config: Mapping[str, Any]) -> int:
    count = gpu_config.get("count")
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0


def _job_path(job_id: str) -> str:
    return f"/api/jobs/{quote(job_id, safe='')}"


def _text_of(answer: Any, key: str) -> str:
    value = answer.get(key) if isinstance(answer, dict) else None
    return value if isinstance(value, str) else ""


def _bounded(value: Any) -> str:
    return value.strip()[-MAX_MESSAGE:] if isinstance(value, str) else ""


def _iso_from_ms(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000, UTC).isoformat()
    return None


def _as_error_json(code: int, content: bytes) -> bytes:
    """Ray's error bodies are text tracebacks: keep the last line as the message the client shows."""
    if 200 <= code < 300:
        return content
    try:
        json.loads(content)
        return content
    except (ValueError, UnicodeDecodeError):
        lines = [line.strip() for line in content.decode("utf-8", "replace").splitlines() if line.strip()]
        return json.dumps({"error": lines[-1][:MAX_MESSAGE] if lines else ""}).encode()


def _with_notes(report: JobStatusReport, notes: list[str]) -> JobStatusReport:
    return replace(report, notes=report.notes + tuple(notes))
