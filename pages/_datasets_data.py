"""What `/datasets` (and the configure page's dataset choice) reads and does, through services.datasets.

The same functions as `POST/GET/DELETE /api/datasets`, each call in one short transaction, with
datasets in the API's JSON shape. Refusals come back as the service's error, for the page to word.
"""

from __future__ import annotations

import io
from typing import Any

from api.runtime import get_runtime
from services.datasets import (
    MAX_PAGE_SIZE,
    create_dataset,
    delete_dataset,
    get_dataset_for_user,
    list_datasets,
)
from services.errors import ServiceError
from services.serialize import dataset_json


def user_datasets(user_id: int) -> list[dict[str, Any]]:
    """The user's datasets (newest first, up to the service's page maximum) in the API's shape."""
    with get_runtime().transaction() as session:
        page = list_datasets(session, user_id, limit=MAX_PAGE_SIZE)
        return [dataset_json(d) for d in page.items]


def dataset_name(user_id: int, dataset_id: int) -> str | None:
    """The name of the user's dataset, or None when it is not theirs (or gone)."""
    with get_runtime().transaction() as session:
        dataset = get_dataset_for_user(session, user_id, dataset_id)
        return dataset.name if dataset is not None else None


def store_upload(user_id: int, name: str, data: bytes) -> tuple[dict[str, Any] | None, ServiceError | None]:
    """Validate and store the file as the user's dataset: (dataset, None), or (None, why not)."""
    runtime = get_runtime()
    try:
        with runtime.transaction() as session:
            dataset = create_dataset(
                session,
                user_id,
                name,
                io.BytesIO(data),
                data_dir=runtime.settings.data_dir,
                max_bytes=runtime.settings.max_upload_bytes,
                max_line_bytes=runtime.settings.max_dataset_line_bytes,
            )
            return dataset_json(dataset), None
    except ServiceError as exc:
        return None, exc


def delete_user_dataset(user_id: int, dataset_id: int) -> tuple[str | None, ServiceError | None]:
    """Delete the dataset and its file: (its name when it is the user's, why it was refused or None).

    The name is read in the same transaction, so a refusal ("in use") can still say which dataset.
    """
    runtime = get_runtime()
    name: str | None = None
    try:
        with runtime.transaction() as session:
            dataset = get_dataset_for_user(session, user_id, dataset_id)
            name = dataset.name if dataset is not None else None
            delete_dataset(session, user_id, dataset_id, data_dir=runtime.settings.data_dir)
    except ServiceError as exc:
        return name, exc
    return name, None
