"""Rows for tests, with defaults a real job would have. Pass overrides for what a test is about."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from db.base import utcnow
from db.metric_store import columns as metric_store_columns
from db.metric_store import insert_points
from db.models import Dataset, JobEvent, JobStatus, MetricPoint, Notification, TrainingJob
from services.ingest import JobSnapshot

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


def synthetic_metrics(step: int, total_steps: int) -> dict[str, float]:
    """Deterministic values shaped like a real run at ``step``: decaying loss, warm-up then cosine
    learning rate, a settling gradient norm, slightly noisy throughput and GPU utilisation."""
    wiggle = math.sin(step * 1.7) * 0.5 + math.sin(step * 0.37) * 0.5  # in [-1, 1], no randomness
    progress = step / max(total_steps, 1)
    warmup = min(1.0, step / max(total_steps * 0.05, 1))
    return {
        "training_loss": round(2.0 * math.exp(-step / 15) + 0.3 + 0.02 * wiggle, 6),
        "validation_loss": round(2.1 * math.exp(-step / 15) + 0.35, 6),
        "learning_rate": round(2e-4 * warmup * (0.5 + 0.5 * math.cos(math.pi * progress)), 10),
        "gradient_norm": round(0.8 + 1.5 * math.exp(-step / 30) + 0.1 * wiggle, 4),
        "throughput": round(3100.0 + 60 * wiggle, 1),
        "gpu_utilization": round(92.0 + 3 * wiggle, 1),
    }


def add_metric_points(
    session: Session,
    job: TrainingJob,
    steps: range | list[int],
    *,
    seconds_per_step: float = 2.0,
    validation_every: int = 5,
) -> list[MetricPoint]:
    """Metric rows for `steps` of `job` from `synthetic_metrics` (validation every few steps).

    Timestamps run from the job's `started_at` (or now) at `seconds_per_step`, so elapsed-time
    charts and the ETA have something real to work with.
    """
    origin = job.started_at or utcnow()
    points = []
    for step in steps:
        values: dict[str, float | None] = dict(synthetic_metrics(step, job.total_steps))
        if step % validation_every:
            values["validation_loss"] = None
        points.append(
            MetricPoint(
                job_id=job.id,
                step=step,
                epoch=step / max(job.total_steps, 1) * max(job.total_epochs, 1),
                timestamp=origin + timedelta(seconds=step * seconds_per_step),
                **values,
            )
        )
    store_points(session, points)
    return points


def store_points(session: Session, points: Iterable[MetricPoint]) -> int:
    """Store unsaved MetricPoint objects through the product's ingest store (db/metric_store.py), so
    their rollups are kept as ingestion keeps them; returns how many were new."""
    names = metric_store_columns()
    rows = [
        tuple(
            utcnow() if name == "timestamp" and point.timestamp is None else getattr(point, name)
            for name in names
        )
        for point in points
    ]
    return insert_points(session, rows)


def add_event(session: Session, job: TrainingJob, kind: str, **values: Any) -> JobEvent:
    """One activity-log row (status changes carry from_status/to_status)."""
    event = JobEvent(job_id=job.id, kind=kind, **values)
    session.add(event)
    session.flush()
    return event


def make_job_history(
    session: Session,
    user_id: int,
    count: int,
    *,
    status: JobStatus = JobStatus.COMPLETED,
    prefix: str = "run",
    **overrides: Any,
) -> list[TrainingJob]:
    """`count` jobs on one dataset, a minute apart, named ``<prefix>-000`` (oldest) upwards.

    For lists longer than a page: the newest comes first on the jobs list, ``<prefix>-000`` last.
    """
    dataset = make_dataset(session, user_id, name=f"{prefix}-data")
    start = utcnow() - timedelta(minutes=count + 1)
    return [
        make_job(
            session,
            user_id,
            dataset.id,
            status=status,
            hyperparameters={**DEFAULT_HYPERPARAMETERS, "name": f"{prefix}-{i:03d}"},
            created_at=start + timedelta(minutes=i),
            **overrides,
        )
        for i in range(count)
    ]


def make_notification_history(
    session: Session, user_id: int, count: int, *, read: Callable[[int], bool] = lambda i: True
) -> list[Notification]:
    """`count` notifications a minute apart, titled ``Update 000`` (oldest) upwards; `read(i)` marks them."""
    start = utcnow() - timedelta(minutes=count + 1)
    rows = [
        Notification(
            user_id=user_id,
            type="job_completed",
            title=f"Update {i:03d}",
            message=f"Update {i:03d}: details.",
            action_url="/training/jobs",
            created_at=start + timedelta(minutes=i),
            read_at=start + timedelta(minutes=i) if read(i) else None,
        )
        for i in range(count)
    ]
    session.add_all(rows)
    session.flush()
    return rows


def job_snapshot(now: datetime, **overrides: Any) -> JobSnapshot:
    """What the cycle knows of a running job (no database): 2 × H100, started 30 minutes before `now`."""
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "user_id": 1,
        "status": "running",
        "external_job_id": "ext-1",
        "current_step": 0,
        "total_steps": 200,
        "started_at": now - timedelta(minutes=30),
        "gpu_config": {"type": "H100", "count": 2},
    }
    values.update(overrides)
    return JobSnapshot(**values)
