"""A JSON 404 for any /api/* path no blueprint serves.

Without it, Dash's page catch-all (`/<path:path>`) would answer an API typo with the app's HTML
and status 200, which a program would take for success.
"""

from __future__ import annotations

from flask import Blueprint, Response

from api.errors import error_response

bp = Blueprint("api_fallback", __name__)
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@bp.route("/api/<path:rest>", methods=ALL_METHODS)
def unknown_api_path(rest: str) -> Response:
    return error_response(404, "Not found", f"There is no API endpoint at /api/{rest}.")
