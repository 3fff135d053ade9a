"""Reading requests at the API edge: JSON bodies, query numbers, the acting user, service errors.

Everything that can be wrong about a request becomes `ApiError(4xx, error, details)` here, so a
handler body only sees well-typed values and a bad request can never reach the database (or a 500).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask_login import current_user

from api.errors import ApiError, error_response
from services.errors import ServiceError, ValidationError

MAX_DB_ID = 2**63 - 1  # PostgreSQL bigint; a larger id cannot exist and must not reach the driver
MAX_JSON_BYTES = 64 * 1024  # a job request is a few hundred bytes; only uploads may be large


def current_user_id() -> int:
    """The signed-in user's id (the auth guard has already refused anonymous requests)."""
    return int(current_user.id)


def actor() -> str:
    return f"user:{current_user_id()}"


def json_body() -> dict[str, Any]:
    """The request's JSON object.

    Raises:
        ApiError: 415 when the body is not declared JSON, 413 beyond MAX_JSON_BYTES, 400 when it is
            malformed or not an object.
    """
    if not request.is_json:
        raise ApiError(415, "Unsupported media type", {"body": "send Content-Type: application/json"})
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise ApiError(
            413, "Request too large", {"body": f"JSON bodies are limited to {MAX_JSON_BYTES:,} bytes"}
        )
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "Malformed JSON", {"body": "the body is not valid JSON"})
    if not isinstance(data, dict):
        raise ApiError(400, "Invalid input", {"body": "must be a JSON object"})
    return data


def int_arg(name: str, default: int | None, *, minimum: int, maximum: int) -> int | None:
    """An optional integer query parameter within [minimum, maximum].

    Raises:
        ApiError: 400 with `{name: reason}` for anything else.
    """
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "Invalid input", {name: "must be a whole number"}) from None
    if not minimum <= value <= maximum:
        raise ApiError(400, "Invalid input", {name: f"must be from {minimum} to {maximum}"})
    return value


def bool_arg(name: str) -> bool:
    raw = (request.args.get(name) or "").lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ApiError(400, "Invalid input", {name: "must be true or false"})


def db_id(value: int, what: str) -> int:
    """An id from the URL; beyond bigint it cannot exist, so answer 404 before the driver errors."""
    if value > MAX_DB_ID:
        raise ApiError(404, f"{what} not found", f"No {what.lower()} {value} in your account.")
    return value


def success(data: object, status: int = 200) -> tuple[Response, int]:
    return jsonify({"success": True, "data": data}), status


def register_service_errors(bp: Blueprint) -> None:
    """Service-layer failures become `{error, details}` with the status the error type carries."""

    @bp.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        details = exc.errors if isinstance(exc, ValidationError) else exc.details
        return error_response(exc.status, exc.message, details)
