"""`/api/datasets`: upload (multipart JSONL), list, read, delete — owner-only, over `services.datasets`."""

from __future__ import annotations

from flask import Blueprint, Response, request

from api.errors import ApiError
from api.request_parsing import current_user_id, db_id, int_arg, register_service_errors, success
from api.runtime import get_runtime
from services.datasets import (
    MAX_PAGE_SIZE,
    create_dataset,
    delete_dataset,
    get_dataset_for_user,
    list_datasets,
)
from services.serialize import dataset_json

bp = Blueprint("datasets_api", __name__, url_prefix="/api/datasets")
register_service_errors(bp)
UPLOAD_FIELDS = frozenset({"file", "name"})


@bp.post("")
def upload() -> tuple[Response, int]:
    """Multipart form: `file` (JSONL) and `name`. 201 with the dataset; 400 with the first bad lines;
    413 beyond the size limit. Nothing is stored unless every line is valid."""
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "Unsupported media type", {"body": "send multipart/form-data with file and name"})
    unknown = {str(field) for field in (*request.form, *request.files)} - UPLOAD_FIELDS
    if unknown:  # str(): a part without a name arrives with the key None
        raise ApiError(400, "Invalid input", {field: "unknown field" for field in sorted(unknown)})
    upload_file = request.files.get("file")
    if upload_file is None:
        raise ApiError(400, "Invalid input", {"file": "required: a JSONL file"})
    runtime = get_runtime()
    with runtime.transaction() as session:
        dataset = create_dataset(
            session,
            current_user_id(),
            request.form.get("name") or upload_file.filename or "",
            upload_file.stream,
            data_dir=runtime.settings.data_dir,
            max_bytes=runtime.settings.max_upload_bytes,
            max_line_bytes=runtime.settings.max_dataset_line_bytes,
        )
        body = dataset_json(dataset)
    return success(body, 201)


@bp.get("")
def list_user_datasets() -> tuple[Response, int]:
    limit = int_arg("limit", 50, minimum=1, maximum=MAX_PAGE_SIZE) or 50
    offset = int_arg("offset", 0, minimum=0, maximum=10**9) or 0
    with get_runtime().transaction() as session:
        page = list_datasets(session, current_user_id(), limit=limit, offset=offset)
        items = [dataset_json(dataset) for dataset in page.items]
    return success({"items": items, "total": page.total, "limit": page.limit, "offset": page.offset})


@bp.get("/<int:dataset_id>")
def detail(dataset_id: int) -> tuple[Response, int]:
    with get_runtime().transaction() as session:
        dataset = get_dataset_for_user(session, current_user_id(), db_id(dataset_id, "Dataset"))
        if dataset is None:
            raise ApiError(404, "Dataset not found", f"No dataset {dataset_id} in your account.")
        body = dataset_json(dataset)
    return success(body)


@bp.delete("/<int:dataset_id>")
def delete(dataset_id: int) -> tuple[Response, int]:
    """Delete the dataset and its file; 409 while any job refers to it."""
    runtime = get_runtime()
    with runtime.transaction() as session:
        delete_dataset(
            session, current_user_id(), db_id(dataset_id, "Dataset"), data_dir=runtime.settings.data_dir
        )
    return success({"id": dataset_id, "deleted": True})
