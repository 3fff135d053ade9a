"""The document of `GET /api/jobs/<id>`: the job (with its dataset and artifact), metrics, costs, events.

Metrics come in two forms (docs/api.md): the specification's `rows` (default), an array of point
objects in ascending step order, and the compact `columnar` form (one step/value array per series)
that charts consume. Both keep the same points: first and last, global and per-bucket extremes, at
most `max_points` per series, only steps after `since_step` when given.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.orm import Session

from services.artifacts import job_artifact_json
from services.errors import job_not_found
from services.metric_rows import metric_rows
from services.metrics import DEFAULT_MAX_POINTS, clamp_max_points, metrics_payload
from services.serialize import cost_record_json, event_json, job_json
from services.training_jobs import get_job_for_user, job_cost_records, job_events

if TYPE_CHECKING:
    from redis import Redis

    from db.models import TrainingJob

MetricsFormat = Literal["rows", "columnar"]
METRICS_FORMATS: tuple[MetricsFormat, ...] = ("rows", "columnar")
DATASET_FIELDS = ("id", "name", "format", "total_training_pairs", "total_tokens")


@dataclass(frozen=True)
class ArtifactAccess:
    """What signing an adapter link needs: the key, and where PIPELINE's own files live."""

    secret_key: str
    data_dir: Path


def job_detail(
    session: Session,
    user_id: int,
    job_id: uuid.UUID | str,
    *,
    access: ArtifactAccess,
    max_points: int | None = DEFAULT_MAX_POINTS,
    since_step: int | None = None,
    metrics_format: MetricsFormat = "rows",
    cache: Redis | None = None,
) -> dict[str, Any]:
    """`{job, metrics, [metrics_summary], cost_records, events}` of the user's job.

    Raises:
        NotFound: no such job for this user.
    """
    job = get_job_for_user(session, user_id, job_id, with_dataset=True)
    if job is None:
        raise job_not_found(job_id)
    dataset = job.dataset
    body: dict[str, Any] = {
        "job": {
            **job_json(job),
            "dataset": {field: getattr(dataset, field) for field in DATASET_FIELDS} if dataset else None,
            "artifact": job_artifact_json(
                session, job, user_id=user_id, secret_key=access.secret_key, data_dir=access.data_dir
            ),
        },
    }
    body.update(_metrics_body(session, job, max_points, since_step, metrics_format, cache))
    body["cost_records"] = [cost_record_json(record) for record in job_cost_records(session, job.id)]
    body["events"] = [event_json(event) for event in job_events(session, job.id)]
    return body


def job_metrics(
    session: Session,
    user_id: int,
    job_id: uuid.UUID | str,
    *,
    max_points: int | None = DEFAULT_MAX_POINTS,
    since_step: int | None = None,
    metrics_format: MetricsFormat = "rows",
    cache: Redis | None = None,
) -> dict[str, Any]:
    """`{job, metrics, [metrics_summary]}`: the job's own fields and its metrics as `job_detail`
    gives them, without dataset, artifact, costs and events, for a script following a run (two
    statements with `since_step`: the job and the new points).

    Raises:
        NotFound: no such job for this user.
    """
    job = get_job_for_user(session, user_id, job_id)
    if job is None:
        raise job_not_found(job_id)
    return {
        "job": job_json(job),
        **_metrics_body(session, job, max_points, since_step, metrics_format, cache),
    }


def _metrics_body(
    session: Session,
    job: TrainingJob,
    max_points: int | None,
    since_step: int | None,
    metrics_format: MetricsFormat,
    cache: Redis | None,
) -> dict[str, Any]:
    payload = metrics_payload(session, job, max_points=max_points, since_step=since_step, cache=cache)
    if metrics_format == "columnar":
        return {"metrics": payload}
    summary = {
        "total_points": payload["total_points"],
        "last_step": payload["last_step"],
        "downsampled": payload["downsampled"],
        "max_points": clamp_max_points(max_points),
    }
    return {"metrics": metric_rows(session, job.id, payload), "metrics_summary": summary}
