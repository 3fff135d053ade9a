"""Rows for tests, with defaults a real job would have. Pass overrides for what a test is about."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Dataset, JobEvent, JobStatus, MetricPoint, TrainingJob

DEFAULT_HYPERPARAMETERS = {"learning_rate": 2e-4, "batch_size": 8, "epochs": 3, "rank": 16, "alpha": 32}


def make_dataset(session: Session, user_id: int, **overrides: Any) -> Dataset:
    values: dict[str, Any] = {
        "user_id": user_id,
        "name": "support-chats",
        "format": "prompt_completion",
        "storage_path": f"{user_id}/{uuid.uuid4().hex}.jsonl",
        "total_training_pairs": 100,
        "total_tokens": 12_000,
        "file_size": 40_000,
    }
    values.update(overrides)
    dataset = Dataset(**values)
    session.add(dataset)
    session.flush()
    return dataset


def make_job(
    session: Session,
    user_id: int,
    dataset_id: int,
    *,
    status: JobStatus = JobStatus.QUEUED,
    started_at: datetime | None = None,
    **overrides: Any,
) -> TrainingJob:
    values: dict[str, Any] = {
        "user_id": user_id,
        "dataset_id": dataset_id,
        "preset_id": "balanced",
        "hyperparameters": dict(DEFAULT_HYPERPARAMETERS),
        "gpu_config": {"type": "A100-80GB", "count": 2},
        "status": status.value,
        "total_epochs": 3,
        "total_steps": 39,
        "estimated_total_cost": Decimal("1.2000"),
        "queued_at": utcnow(),
        "started_at": started_at,
    }
    values.update(overrides)
    job = TrainingJob(**values)
    session.add(job)
    session.flush()
    return job


def add_metric_points(
    session: Session,
    job: TrainingJob,
    steps: range | list[int],
    *,
    seconds_per_step: float = 2.0,
    validation_every: int = 5,
) -> list[MetricPoint]:
    """Plausible metric rows for `steps` of `job` (decaying loss, validation every few steps).

    Timestamps run from the job's `started_at` (or now) at `seconds_per_step`, so elapsed-time
    charts and the ETA have something real to work with.
    """
    origin = job.started_at or utcnow()
    points = [
        MetricPoint(
            job_id=job.id,
            step=step,
            epoch=step / max(job.total_steps, 1) * max(job.total_epochs, 1),
            timestamp=origin + timedelta(seconds=step * seconds_per_step),
            training_loss=round(2.0 * math.exp(-step / 15) + 0.3, 6),
            validation_loss=round(2.1 * math.exp(-step / 15) + 0.35, 6)
            if step % validation_every == 0
            else None,
            learning_rate=2e-4,
            gradient_norm=1.0 + (step % 3) * 0.1,
            throughput=3000.0 + step,
            gpu_utilization=90.0,
        )
        for step in steps
    ]
    session.add_all(points)
    session.flush()
    return points


def add_event(session: Session, job: TrainingJob, kind: str, **values: Any) -> JobEvent:
    """One activity-log row (status changes carry from_status/to_status)."""
    event = JobEvent(job_id=job.id, kind=kind, **values)
    session.add(event)
    session.flush()
    return event
