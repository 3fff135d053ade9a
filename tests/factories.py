"""Rows for tests, with defaults a real job would have. Pass overrides for what a test is about."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Dataset, JobStatus, TrainingJob

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
