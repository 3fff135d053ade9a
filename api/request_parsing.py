"""Reading requests at the API edge: JSON bodies, query numbers, the acting user, service errors.

Everything that can be wrong about a request becomes `ApiError(4xx, error, details)` here, so a
handler body only sees well-typed values and a bad request can never reach the database (or a 500).
Two checks cover every route, Dash's callback endpoint included (`init_request_parsing`): request
JSON is decoded by `contract.strict_json` (depth, digits, NaN, NUL, lone surrogates), and form
fields, file names and query parameters carrying NUL or a lone surrogate are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

import flask
from flask import Blueprint, Flask, Response, jsonify, request
from flask_login import current_user
from werkzeug.exceptions import BadRequest

from api.errors import ApiError, error_response, wants_json
from contract import strict_json
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
    try:
        data = request.get_json()
    except BadRequest as exc:
        raise ApiError(400, "Malformed JSON", {"body": exc.description}) from None
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


class _StrictJson:
    """What `request.get_json()` decodes with: `contract.strict_json` (Flask's session cookie, which
    is signed, keeps Flask's own decoder)."""

    @staticmethod
    def loads(data: str | bytes, **_kwargs: Any) -> Any:
        return strict_json.loads(data)

    dumps = staticmethod(flask.json.dumps)


class StrictRequest(flask.Request):
    """Flask's request, decoding JSON bodies strictly and saying why one was refused (Flask's own
    answer hides the reason outside debug mode)."""

    @property  # type: ignore[override]
    def json_module(self) -> type[_StrictJson]:
        return _StrictJson

    @json_module.setter
    def json_module(self, _provider: object) -> None:
        """Flask sets `app.json` on every request (flask/ctx.py); request bodies keep the strict one."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:  # not declared JSON: werkzeug's 415
            return super().on_json_loading_failed(e)
        raise BadRequest(f"The body is not JSON this site accepts: {e}.")


def _named_text() -> Iterator[tuple[str, str]]:
    """(what, text) for every query parameter, form field and uploaded file name, keys included."""
    for where, fields in (("query parameter", request.args), ("form field", request.form)):
        for key, value in fields.items(multi=True):
            yield f"The {where} name {key!r}", key or ""  # a multipart part may come without a name
            yield f"The {where} {key!r}", value
    for key, upload in request.files.items(multi=True):
        yield f"The file name of {key!r}", upload.filename or ""


def refuse_broken_text() -> None:
    """400 when any query parameter, form field or file name holds text we could never store.

    Raises:
        ApiError: 400 `{error, details}` on JSON routes; a plain 400 page for a browser's form post.
    """
    for what, text in _named_text():
        problem = strict_json.text_problem(text)
        if problem is not None:
            _refuse_text(f"{what} {problem}.")


def _refuse_text(message: str) -> NoReturn:
    if wants_json():
        raise ApiError(400, "Invalid input", message)
    raise BadRequest(message)


def init_request_parsing(app: Flask) -> None:
    """Strict JSON and the text check for every request (after the sign-in guard, so an anonymous
    request is still a 401 and its body is never read)."""
    app.request_class = StrictRequest
    app.before_request(refuse_broken_text)
