"""The browser's side of an upload: dcc.Upload's data URL to bytes and a name, and the service's
answer (pages/_datasets_data.store_upload) back to a result panel.

dcc.Upload delivers the file as a base64 data URL inside the callback request, so the page's
limit is what fits in Flask's MAX_CONTENT_LENGTH after base64's 4/3 growth; the JSON API
(multipart, no base64) accepts up to the full MAX_UPLOAD_BYTES.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import PurePath
from typing import Any

from api.runtime import get_runtime
from components.dataset_view import upload_accepted, upload_rejected
from services.errors import ServiceError, ValidationError

_BASE64_GROWTH = 4 / 3
_REQUEST_OVERHEAD = 64 * 1024  # the rest of the callback's JSON body (ids, states)


class DecodeError(ValueError):
    """The upload's data URL could not be decoded (never expected from a real browser)."""


def page_upload_limit() -> int:
    """Largest file the page accepts, from this deployment's MAX_UPLOAD_BYTES."""
    return upload_limit_for(get_runtime().settings.max_upload_bytes)


def upload_limit_for(max_upload_bytes: int) -> int:
    """Largest file the page accepts: the request limit less base64 growth and overhead (the
    README's figure comes from here too: tests/unit/test_deploy_files.py)."""
    return max(int((max_upload_bytes - _REQUEST_OVERHEAD) / _BASE64_GROWTH), 0)


def decode_upload(contents: str) -> bytes:
    """``data:<type>;base64,<payload>`` → the file's bytes.

    Raises:
        DecodeError: not a base64 data URL.
    """
    header, sep, payload = contents.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        raise DecodeError("The browser sent the file in an unexpected form; try again.")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError("The file could not be read; try again.") from None


def upload_name(typed: str | None, filename: str | None) -> str:
    """The name the user typed, else the file's: ``support-chats.jsonl`` → ``support-chats``; with
    neither, ``dataset``."""
    if typed and typed.strip():
        return typed.strip()
    stem = PurePath(filename or "").stem.strip()
    return stem or "dataset"


def upload_result(dataset: dict[str, Any] | None, error: Exception | None) -> Any:
    """The panel under the upload zone: accepted with counts, or rejected with the reasons."""
    if dataset is not None:
        return upload_accepted(dataset)
    if isinstance(error, ValidationError):
        details = error.details if isinstance(error.details, dict) else {}
        bad_lines = details.get("bad_lines") or []
        total_bad = details.get("bad_line_count")
        messages = [
            msg if key == "file" else f"{key.capitalize()}: {msg}" for key, msg in error.errors.items()
        ]
        return upload_rejected(" ".join(messages) or error.message, bad_lines, total_bad)
    if isinstance(error, ServiceError):
        return upload_rejected(f"{error.message}: {error.details}", [])
    return upload_rejected(str(error) if error else "The file was not accepted.", [])
