"""`GET /api/health`: what container healthchecks call. Says what is reachable, never how it is configured."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from api.runtime import get_runtime

bp = Blueprint("health", __name__)


@bp.get("/api/health")
def health() -> tuple[Response, int]:
    runtime = get_runtime()
    checks: dict[str, str] = {}
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # any driver error means "unreachable" to a healthcheck
        checks["database"] = "unreachable"
    if runtime.redis is None:
        checks["redis"] = "not configured"
    else:
        try:
            runtime.redis.ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "unreachable"
    healthy = all(value in ("ok", "not configured") for value in checks.values())
    body = {"success": healthy, "data": {"status": "ok" if healthy else "degraded", **checks}}
    return jsonify(body), 200 if healthy else 503
