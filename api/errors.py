"""The JSON error shape of docs/architecture.md §10, and handlers that keep /api from ever answering HTML."""

from __future__ import annotations

import logging

from dash.exceptions import DependencyException
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised anywhere under a request to answer `{error, details}` with `status`."""

    def __init__(self, status: int, error: str, details: object = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details


def error_response(status: int, error: str, details: object = None) -> Response:
    response = jsonify({"error": error, "details": details if details is not None else error})
    response.status_code = status
    return response


def wants_json() -> bool:
    """API paths, Dash's own endpoints and XHR get JSON; page loads get HTML."""
    path = request.path
    if path.startswith(("/api/", "/_dash", "/storage/")):
        return True
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return True
    accept = request.accept_mimetypes
    return accept.best_match(["text/html", "application/json"]) == "application/json"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.error, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if not wants_json():
            return exc
        names = {413: "Request too large", 405: "Method not allowed", 404: "Not found"}
        return error_response(exc.code or 500, names.get(exc.code or 0, exc.name), exc.description)

    @app.errorhandler(DependencyException)
    def _unknown_component_suite(exc: DependencyException) -> Response:
        """Dash raises this for a `/_dash-component-suites/` path naming no package it serves."""
        return error_response(404, "Not found", str(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            500, "Internal error", "The server failed to handle this request; it was logged."
        )
