"""Several of one user's jobs side by side: their loss series, settings and outcome figures.

The comparison page (`/training/compare`) and `GET /api/jobs/compare` read this one function, so
they cannot disagree. A job id that is missing, malformed or someone else's refuses the whole
comparison with the same message as a missing job (nothing about another user's job leaks).
Definitions of the figures (cost per 1 % of improvement): docs/api.md "Compare jobs".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from redis import Redis
from sqlalchemy.orm import Session

from catalog.metrics import chart_metrics
from db.models import TERMINAL_STATUSES, TrainingJob
from services.errors import ValidationError, job_not_found
from services.metrics import metrics_payload
from services.serialize import job_json, money
from services.training_jobs import get_job_for_user

MAX_COMPARED_JOBS = 10
# Per series and job: ten jobs at 500 points each keep a full comparison near 100 KB.
COMPARE_MAX_POINTS = 500


def parse_compare_ids(raw: str | Sequence[str] | None) -> list[str]:
    """The ids of a comparison, in the order given, repeats dropped.

    Raises:
        ValidationError: no id, or more than ``MAX_COMPARED_JOBS``.
    """
    parts = raw.split(",") if isinstance(raw, str) else list(raw or [])
    ids = list(dict.fromkeys(p.strip() for p in parts if p and p.strip()))
    if not ids:
        raise ValidationError({"ids": "name at least one job id (comma-separated)"})
    if len(ids) > MAX_COMPARED_JOBS:
        raise ValidationError(
            {"ids": f"compare at most {MAX_COMPARED_JOBS} jobs at once ({len(ids)} given)"},
            "Too many jobs to compare",
        )
    return ids


def job_settings(job: Mapping[str, Any], dataset_name: str | None = None) -> dict[str, Any]:
    """A job's stored settings as flat ``{label: value}`` rows, from its API JSON.

    Derived from the JSON rather than listed field by field, so a setting added to the job
    (a hyperparameter, a per-job option) appears in the comparison without a change here.
    """
    rows: dict[str, Any] = {
        "preset": job.get("preset_id"),
        "base model": job.get("base_model"),
        "dataset": f"{dataset_name} (#{job.get('dataset_id')})" if dataset_name else job.get("dataset_id"),
        "budget limit": job.get("budget_limit"),
    }
    for key, value in sorted((job.get("gpu_config") or {}).items()):
        rows[f"gpu {key}"] = value
    for key, value in sorted((job.get("hyperparameters") or {}).items()):
        rows[key] = value
    return rows


def settings_table(settings: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per setting any job has: ``{name, values (one per job), differs}``."""
    names = list(dict.fromkeys(name for one in settings for name in one))
    rows = []
    for name in names:
        values = [one.get(name) for one in settings]
        rows.append({"name": name, "values": values, "differs": len({repr(v) for v in values}) > 1})
    return rows


def _duration_seconds(job: TrainingJob, now: datetime) -> float | None:
    if job.started_at is None:
        return None
    end = job.completed_at if job.completed_at is not None else now
    return max((end - job.started_at).total_seconds(), 0.0)


def outcome(job: TrainingJob, series: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Final and best validation loss, cost, duration, training-loss improvement and its price.

    ``improvement_pct`` is the drop of training loss from the first stored point to the last, in
    percent of the first; ``cost_per_improvement_pct`` is cost / improvement_pct (None when the
    loss did not fall). The downsampled series keep the first, last and extreme points exactly.
    """
    validation = series.get("validation_loss", {}).get("value") or []
    training = series.get("training_loss", {}).get("value") or []
    cost: Decimal | None = job.final_cost if job.status in TERMINAL_STATUSES else None
    cost = cost if cost is not None else job.current_cost
    improvement = None
    if len(training) >= 2 and training[0] > 0:
        improvement = round((training[0] - training[-1]) / training[0] * 100.0, 3)
    per_pct = None
    if improvement is not None and improvement > 0 and cost is not None:
        # a ratio, not a stored amount: six decimals, since a cheap run pays fractions of a cent per 1 %
        per_pct = float((cost / Decimal(str(improvement))).quantize(Decimal("0.000001")))
    return {
        "final_validation_loss": validation[-1] if validation else None,
        "best_validation_loss": min(validation) if validation else None,
        "cost": money(cost),
        "duration_seconds": _duration_seconds(job, now),
        "improvement_pct": improvement,
        "cost_per_improvement_pct": per_pct,
    }


def compare_jobs(
    session: Session,
    user_id: int,
    ids: Sequence[str],
    *,
    now: datetime | None = None,
    cache: Redis | None = None,
) -> dict[str, Any]:
    """``{jobs: [{job, series, elapsed, outcome}], settings, all_terminal}`` for the user's jobs.

    Raises:
        NotFound: an id that is not one of the user's jobs (the first such id, as a missing one).
    """
    now = now or datetime.now(UTC)
    loss_names = [m.name for m in chart_metrics("loss")]
    entries: list[dict[str, Any]] = []
    for job_id in ids:
        job = get_job_for_user(session, user_id, job_id)
        if job is None:
            raise job_not_found(job_id)
        payload = metrics_payload(session, job, max_points=COMPARE_MAX_POINTS, cache=cache)
        series = {name: payload["series"][name] for name in loss_names}
        as_json = job_json(job)
        entries.append(
            {
                "job": as_json,
                "series": series,
                "elapsed": payload["elapsed"],
                "last_step": payload["last_step"],
                "outcome": outcome(job, series, now),
                "dataset_name": job.dataset.name if job.dataset is not None else None,
            }
        )
    return {
        "jobs": entries,
        "settings": settings_table([job_settings(e["job"], e["dataset_name"]) for e in entries]),
        "all_terminal": all(e["job"]["status"] in TERMINAL_STATUSES for e in entries),
    }
