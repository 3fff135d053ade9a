"""Reads of the signed-in user's datasets for the forms pages, through the service layer."""

from __future__ import annotations

from typing import Any

from api.runtime import get_runtime
from services.datasets import MAX_PAGE_SIZE, TRAINABLE_STATUS, list_datasets
from services.serialize import dataset_json


def user_datasets(user_id: int) -> list[dict[str, Any]]:
    """The user's datasets (newest first, up to the service's page maximum) in the API's shape."""
    with get_runtime().transaction() as session:
        page = list_datasets(session, user_id, limit=MAX_PAGE_SIZE)
        return [dataset_json(d) for d in page.items]


def ready_datasets(user_id: int) -> list[dict[str, Any]]:
    """The subset a new job may train on."""
    return [d for d in user_datasets(user_id) if d["status"] == TRAINABLE_STATUS]
