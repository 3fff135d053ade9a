"""`POST /api/training-callback`: status and metric batches a trainer (or a cluster) pushes to us.

Authenticated by the per-job HMAC signature, not by session (a public path for the guard). Refusals
change nothing and come in this order: 413 size, 401 signature, 400 shape or job mismatch, 404 job,
409 replay. Accepted reports go through services/ingest.py, the poll cycle's path; a finished job
answers 200 without change so the trainer stops retrying (docs/callbacks.md, docs/architecture.md §6).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import OperationalError

from api.callback_replay import SeenSignatures
from api.errors import error_response
from api.request_parsing import success
from api.runtime import get_runtime
from contract.parsing import parse_status_report
from contract.results import ClusterMalformed
from contract.signing import (
    JOB_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    derive_job_secret,
    signature_problem,
)
from db.base import utcnow
from db.models import TERMINAL_STATUSES, TrainingJob
from services.ingest import ingest_status

bp = Blueprint("callbacks_api", __name__)
log = logging.getLogger(__name__)

CALLBACK_PATH = "/api/training-callback"
# A trainer sends at most 50 points per request (~20 KB); 1 MiB leaves room for a long error text.
MAX_CALLBACK_BYTES = 1024 * 1024
# A deadlock between a callback and a concurrent cycle writing the same job aborts one transaction;
# retrying it is safe because ingestion is idempotent.
_ATTEMPTS = 3
_TERMINAL = frozenset(status.value for status in TERMINAL_STATUSES)
_SEEN_KEY = "pipeline_callback_seen"


def _seen() -> SeenSignatures:
    seen = current_app.extensions.get(_SEEN_KEY)
    if seen is None:
        seen = current_app.extensions.setdefault(_SEEN_KEY, SeenSignatures(get_runtime().redis))
    return seen


def _read_body() -> bytes | None:
    """The raw body (the signature covers these exact bytes), or None when it is too large."""
    if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
        return None
    body = request.stream.read(MAX_CALLBACK_BYTES + 1)
    return None if len(body) > MAX_CALLBACK_BYTES else body


def _job_id_from_header() -> uuid.UUID | None:
    raw = request.headers.get(JOB_ID_HEADER, "")
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


@bp.post(CALLBACK_PATH)
def training_callback() -> Response:
    runtime = get_runtime()
    body = _read_body()
    if body is None:
        return error_response(
            413, "Request too large", f"A callback body may be at most {MAX_CALLBACK_BYTES} bytes."
        )
    job_id = _job_id_from_header()
    if job_id is None:
        return error_response(401, "Not authenticated", f"{JOB_ID_HEADER} must be a job id.")
    signature = request.headers.get(SIGNATURE_HEADER)
    problem = signature_problem(
        derive_job_secret(runtime.settings.secret_key, str(job_id)),
        request.headers.get(TIMESTAMP_HEADER),
        signature,
        body,
    )
    if problem is not None or signature is None:
        log.warning("callback for job %s refused: %s", job_id, problem)
        return error_response(401, "Not authenticated", f"Callback signature refused: {problem}.")

    payload, malformed = _parse_payload(body, job_id)
    if malformed is not None:
        return error_response(400, "Malformed callback", malformed)
    try:
        report = parse_status_report(payload, str(job_id), None)
    except ClusterMalformed as exc:
        return error_response(400, "Malformed callback", str(exc))

    with runtime.transaction() as session:
        exists = session.get(TrainingJob, job_id) is not None
    if not exists:
        return error_response(404, "Job not found", f"No job {job_id}.")

    seen = _seen()
    # Keyed by the digest alone, as verified (stripped): "v1=<hex>" and "v1= <hex>" are one request.
    replay_key = f"{job_id}:{signature.partition('=')[2].strip()}"
    if not seen.claim(replay_key):
        return error_response(409, "Replayed callback", "This signed request was already accepted.")
    try:
        return _ingest(job_id, report)
    except Exception:
        seen.release(replay_key)
        raise


def _parse_payload(body: bytes, job_id: uuid.UUID) -> tuple[Any, str | None]:
    """The JSON object, or a reason why it is not one we accept."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
        return None, "The body is not valid JSON."
    if not isinstance(payload, dict):
        return None, "The body must be a JSON object (the cluster status payload)."
    claimed = payload.get("job_id")
    if claimed is not None and str(claimed) != str(job_id):
        return None, f"The body's job_id does not match the {JOB_ID_HEADER} header."
    return payload, None


def _ingest(job_id: uuid.UUID, report: Any) -> Response:
    runtime = get_runtime()
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with runtime.transaction() as session:
                job = session.get(TrainingJob, job_id)
                assert job is not None  # jobs are never deleted while the web process runs
                if job.status in _TERMINAL:
                    return _accepted(job.status, 0, ignored="the job has already finished")
                result = ingest_status(
                    session,
                    job,
                    report,
                    source="callback",
                    now=utcnow(),
                    clock_skew=timedelta(seconds=runtime.settings.cluster_clock_skew_seconds),
                )
                session.flush()
                status = job.status
            return _accepted(status, result.points_inserted, finished=bool(result.finished))
        except OperationalError:
            if attempt == _ATTEMPTS:
                raise
            log.info("callback for job %s retried after a database conflict", job_id)
    raise AssertionError("unreachable")


def _accepted(status: str, points: int, *, finished: bool = False, ignored: str | None = None) -> Response:
    """The API's success envelope (api/request_parsing.success) with what this delivery did."""
    data: dict[str, Any] = {"accepted": True, "status": status, "points_stored": points}
    if finished:
        data["finished"] = True
    if ignored:
        data["ignored"] = ignored
    response, _ = success(data)
    return response
