"""Datasets a user owns: create from an upload, list, read, delete (refused while a job uses it).

Every function takes the caller's session and the acting user's id; another user's dataset is
indistinguishable from a missing one (None / NotFound).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import ACTIVE_STATUSES, Dataset, DatasetStatus, TrainingJob
from services.dataset_files import (
    DATASETS_BUCKET,
    MAX_LINE_BYTES,
    new_storage_path,
    storage_file,
    validate_and_store,
)
from services.errors import BIGINT_MAX, Conflict, NotFound, ValidationError

NAME_LIMIT = 200
MAX_PAGE_SIZE = 100
TRAINABLE_STATUS = DatasetStatus.READY.value  # the only status a new job may train on


@dataclass(frozen=True)
class DatasetPage:
    items: list[Dataset]
    total: int
    limit: int
    offset: int


def validate_dataset_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "required: a name for the dataset"})
    if len(name.strip()) > NAME_LIMIT:
        raise ValidationError({"name": f"must be at most {NAME_LIMIT} characters"})
    return name.strip()


def create_dataset(
    session: Session,
    user_id: int,
    name: object,
    source: IO[bytes],
    *,
    data_dir: Path,
    max_bytes: int,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Dataset:
    """Validate every line of `source`, store it under DATA_DIR/datasets/<user>/, record the row.

    Nothing is kept on failure: no file, no row.

    Raises:
        ValidationError: bad name (field `name`) or bad file (field `file`, first bad lines).
        TooLarge: the upload exceeds `max_bytes`.
    """
    clean_name = validate_dataset_name(name)
    storage_path = new_storage_path(user_id)
    destination = storage_file(data_dir, storage_path)
    assert destination is not None  # generated paths never escape the folder
    report = validate_and_store(source, destination, max_bytes, max_line_bytes=max_line_bytes)
    dataset = Dataset(
        user_id=user_id,
        name=clean_name,
        format=report.format or "",
        storage_bucket=DATASETS_BUCKET,
        storage_path=storage_path,
        total_training_pairs=report.total_training_pairs,
        total_tokens=report.total_tokens,
        file_size=report.file_size,
        status=DatasetStatus.READY.value,
    )
    try:
        session.add(dataset)
        session.flush()
    except Exception:
        destination.unlink(missing_ok=True)
        raise
    return dataset


def get_dataset_for_user(session: Session, user_id: int, dataset_id: int) -> Dataset | None:
    """The dataset if it exists and belongs to `user_id`; None otherwise (callers answer 404)."""
    if not 0 < dataset_id <= BIGINT_MAX:
        return None
    return session.scalar(select(Dataset).where(Dataset.id == dataset_id, Dataset.user_id == user_id))


def list_datasets(session: Session, user_id: int, *, limit: int = 50, offset: int = 0) -> DatasetPage:
    """The user's datasets, newest first."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    offset = max(0, offset)
    total = session.scalar(select(func.count()).select_from(Dataset).where(Dataset.user_id == user_id)) or 0
    items = session.scalars(
        select(Dataset)
        .where(Dataset.user_id == user_id)
        .order_by(Dataset.created_at.desc(), Dataset.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return DatasetPage(items=list(items), total=int(total), limit=limit, offset=offset)


def delete_dataset(session: Session, user_id: int, dataset_id: int, *, data_dir: Path) -> None:
    """Delete the row and its file.

    Refused while any job refers to it: an active job still needs the file, and a finished job's
    record keeps pointing at the dataset it trained on.

    Raises:
        NotFound: no such dataset for this user.
        Conflict: jobs use it (details say how many are active).
    """
    dataset = None
    if 0 < dataset_id <= BIGINT_MAX:
        dataset = session.scalar(
            select(Dataset).where(Dataset.id == dataset_id, Dataset.user_id == user_id).with_for_update()
        )
    if dataset is None:
        raise NotFound("Dataset not found", f"No dataset {dataset_id} in your account.")
    statuses = session.scalars(select(TrainingJob.status).where(TrainingJob.dataset_id == dataset.id)).all()
    if statuses:
        active = sum(1 for status in statuses if status in ACTIVE_STATUSES)
        raise Conflict(
            "Dataset in use",
            f"{len(statuses)} job(s) use this dataset ({active} active); it cannot be deleted.",
        )
    path = storage_file(data_dir, dataset.storage_path)
    session.delete(dataset)
    session.flush()
    if path is not None:
        path.unlink(missing_ok=True)
