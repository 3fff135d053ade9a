"""`/api/jobs`: estimate, create, list, read (the specification's detail shape), cancel, export metrics.

Thin handlers over `services.training_jobs` / `services.metrics`, the same functions the pages call.
Another user's job is a 404, exactly like a missing one, and nothing changes.
"""

from __future__ import annotations

from typing import Any, TypedDict

from flask import Blueprint, Response, jsonify, request, stream_with_context

from api.errors import ApiError
from api.request_parsing import (
    actor,
    current_user_id,
    int_arg,
    json_body,
    register_service_errors,
    success,
)
from api.runtime import Runtime, get_runtime
from db.base import utcnow
from jobs.cancels import cancel_on_cluster_now
from services.errors import job_not_found
from services.job_compare import compare_jobs, parse_compare_ids
from services.job_config import JobEstimate, budget_warning
from services.job_detail import METRICS_FORMATS, ArtifactAccess, MetricsFormat, job_detail, job_metrics
from services.job_limits import UserLimits
from services.metrics import DEFAULT_MAX_POINTS, MAX_MAX_POINTS, MIN_MAX_POINTS, iter_metrics_csv
from services.serialize import job_json, money
from services.training_jobs import (
    MAX_PAGE_SIZE,
    cancel_user_job,
    create_job,
    estimate_job,
    get_job_for_user,
    list_jobs,
)

bp = Blueprint("jobs_api", __name__, url_prefix="/api/jobs")
register_service_errors(bp)
MAX_STEP = 2**31 - 1


def user_limits() -> UserLimits:
    return UserLimits.from_settings(get_runtime().settings)


def _not_found(job_id: str) -> ApiError:
    missing = job_not_found(job_id)
    return ApiError(404, missing.message, missing.details)


def _estimate_json(result: JobEstimate) -> dict[str, Any]:
    """The estimate with its money as JSON numbers, like every amount the API answers with."""
    return {
        **result.as_dict(),
        "hourly_rate": money(result.hourly_rate),
        "estimated_total_cost": money(result.estimated_total_cost),
    }


def _metrics_format() -> MetricsFormat:
    raw = request.args.get("format") or "rows"
    for known in METRICS_FORMATS:
        if raw == known:
            return known
    raise ApiError(400, "Invalid input", {"format": f"must be one of {', '.join(METRICS_FORMATS)}"})


class MetricsQuery(TypedDict):
    """The metrics query both job reads take: `format`, `max_points`, `since_step`."""

    metrics_format: MetricsFormat
    max_points: int | None
    since_step: int | None


def _metrics_query() -> MetricsQuery:
    return {
        "metrics_format": _metrics_format(),
        "max_points": int_arg(
            "max_points", DEFAULT_MAX_POINTS, minimum=MIN_MAX_POINTS, maximum=MAX_MAX_POINTS
        ),
        "since_step": int_arg("since_step", None, minimum=-1, maximum=MAX_STEP),
    }


def artifact_access(runtime: Runtime) -> ArtifactAccess:
    return ArtifactAccess(secret_key=runtime.settings.secret_key, data_dir=runtime.settings.data_dir)


@bp.get("")
def list_user_jobs() -> tuple[Response, int]:
    """The user's jobs, newest first. Query: `status` (comma-separated), `limit`, `offset`."""
    limit = int_arg("limit", 20, minimum=1, maximum=MAX_PAGE_SIZE) or 20
    offset = int_arg("offset", 0, minimum=0, maximum=10**9) or 0
    with get_runtime().transaction() as session:
        page = list_jobs(
            session, current_user_id(), statuses=request.args.get("status"), limit=limit, offset=offset
        )
        items = [job_json(job) for job in page.items]
    return success({"items": items, "total": page.total, "limit": page.limit, "offset": page.offset})


@bp.post("/estimate")
def estimate() -> tuple[Response, int]:
    """Validate a job request and return steps, duration and cost; stores nothing.

    `budget_warning` says when the estimate is over `budget_limit` (the job would be stopped early).
    """
    payload = json_body()
    with get_runtime().transaction() as session:
        config, result = estimate_job(session, current_user_id(), payload)
    return success(
        {
            **_estimate_json(result),
            "budget_limit": money(config.budget_limit),
            "budget_warning": budget_warning(result.estimated_total_cost, config.budget_limit),
            "preset_id": config.preset_id,
            "base_model": config.base_model,
            "hyperparameters": config.hyperparameters,
            "gpu_config": config.gpu_config,
        }
    )


@bp.post("")
def create() -> tuple[Response, int]:
    """Create a queued job; 201 with the job and its estimate (with `budget_warning`, as estimate's)."""
    payload = json_body()
    with get_runtime().transaction() as session:
        job, result = create_job(session, current_user_id(), payload, actor=actor(), limits=user_limits())
        warning = budget_warning(result.estimated_total_cost, job.budget_limit)
        body = {"job": job_json(job), "estimate": {**_estimate_json(result), "budget_warning": warning}}
    return success(body, 201)


@bp.get("/compare")
def compare() -> tuple[Response, int]:
    """Up to 10 of the user's jobs side by side (services/job_compare.py). Query: `ids`, comma-separated.

    :raise 400: no id, or more than 10.
    :raise 404: an id that is not one of the user's jobs (the same answer as a missing one).
    """
    ids = parse_compare_ids(request.args.get("ids"))
    runtime = get_runtime()
    with runtime.transaction() as session:
        data = compare_jobs(session, current_user_id(), ids, cache=runtime.redis)
    return success(data)


@bp.get("/<job_id>")
def detail(job_id: str) -> tuple[Response, int]:
    """`{job, metrics, [metrics_summary], cost_records, events}` (services/job_detail.py).

    Query: `format` (`rows`, the specification's point objects, default; or `columnar`),
    `max_points` (per series), `since_step`.
    """
    query = _metrics_query()
    runtime = get_runtime()
    with runtime.transaction() as session:
        data = job_detail(
            session, current_user_id(), job_id, access=artifact_access(runtime), cache=runtime.redis, **query
        )
    return success(data)


@bp.get("/<job_id>/metrics")
def metrics(job_id: str) -> tuple[Response, int]:
    """`{job, metrics, [metrics_summary]}` (services/job_detail.py `job_metrics`): the job's own
    fields and its metrics, with the query of `GET /api/jobs/<id>`; the light poll for scripts.
    """
    query = _metrics_query()
    runtime = get_runtime()
    with runtime.transaction() as session:
        data = job_metrics(session, current_user_id(), job_id, cache=runtime.redis, **query)
    return success(data)


@bp.post("/<job_id>/cancel")
def cancel(job_id: str) -> tuple[Response, int]:
    """Cancel an active job: `{success, message, data: job}`; 400 with details when it already finished.

    The cancel commits first; then the cluster is told at once, one try with short timeouts
    (jobs/cancels.py), and the processor retries until the cluster acknowledges.
    """
    runtime = get_runtime()
    with runtime.transaction() as session:
        job = cancel_user_job(session, current_user_id(), job_id, actor=actor(), now=utcnow())
        found = job.id
    told = cancel_on_cluster_now(runtime.sessions, runtime.settings, found, now=utcnow())
    with runtime.transaction() as session:
        cancelled = get_job_for_user(session, current_user_id(), found)
        data = job_json(cancelled) if cancelled is not None else None
    message = "Job cancelled successfully"
    if not told and data is not None and data["external_job_id"] and data["cancel_confirmed_at"] is None:
        message += "; the cluster has not confirmed yet, PIPELINE keeps telling it"
    return jsonify({"success": True, "message": message, "data": data}), 200


@bp.get("/<job_id>/metrics.csv")
def metrics_csv(job_id: str) -> Response:
    """Every stored point of the job as CSV, streamed (no history is held in memory)."""
    runtime = get_runtime()
    with runtime.transaction() as session:
        job = get_job_for_user(session, current_user_id(), job_id)
        if job is None:
            raise _not_found(job_id)
        found = job.id
    return Response(
        stream_with_context(iter_metrics_csv(runtime.engine, found)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="job-{found}-metrics.csv"'},
    )
