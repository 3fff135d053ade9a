"""Every /api route the documents promise is served by a blueprint (not by the JSON 404 fallback),
every /api route served is documented, and a missing blueprint module stops the app at start-up."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from werkzeug.exceptions import MethodNotAllowed, NotFound

from api.runtime import Runtime
from app import create_app
from settings import Settings

DOCS = Path(__file__).parents[2] / "docs"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
FALLBACK = "api_fallback.unknown_api_path"
# A value each path parameter accepts (an int for the ids the routes declare as <int:...>).
SAMPLES = {"dataset_id": "7", "notification_id": "12", "id": "7"}


def _template(path: str) -> str:
    """``/api/jobs/{job_id}``, ``/api/jobs/<id>`` and ``/api/jobs/<job_id>`` all read ``/api/jobs/{}``."""
    return re.sub(r"\{[^}]*\}|<[^>]*>", "{}", path)


def documented_routes() -> set[tuple[str, str]]:
    """(method, path) of every /api operation in docs/api-openapi.yaml, docs/api.md and docs/callbacks.md."""
    spec = yaml.safe_load((DOCS / "api-openapi.yaml").read_text())
    routes = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method.upper() in METHODS and path.startswith("/api/")
    }
    mentioned = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/api/[^`?\s]*)")
    for name in ("api.md", "callbacks.md"):
        routes |= set(mentioned.findall((DOCS / name).read_text()))
    return routes


def _concrete(path: str) -> str:
    """The documented path with a sample value for each parameter."""
    return re.sub(r"\{([^}]*)\}|<([^>]*)>", lambda m: SAMPLES.get(m[1] or m[2], "sample-id"), path)


def test_every_documented_api_route_is_served(app: Any) -> None:
    routes = documented_routes()
    assert ("GET", "/api/jobs/{job_id}") in routes  # the reading works: one per document
    assert ("POST", "/api/jobs/<id>/cancel") in routes
    assert ("POST", "/api/training-callback") in routes
    adapter = app.server.url_map.bind("localhost")
    missing = []
    for method, path in sorted(routes):
        try:
            endpoint, _ = adapter.match(_concrete(path), method=method)
        except (NotFound, MethodNotAllowed):
            endpoint = None
        if endpoint in (None, FALLBACK):
            missing.append(f"{method} {path}")
    assert missing == []


def test_every_served_api_route_is_documented(app: Any) -> None:
    documented = {(method, _template(path)) for method, path in documented_routes()}
    served = {
        (method, _template(rule.rule))
        for rule in app.server.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.endpoint != FALLBACK
        for method in rule.methods or ()
        if method in METHODS
    }
    assert served - documented == set()


def test_a_missing_blueprint_module_stops_the_app_at_start_up(
    sqlite_settings: Settings, sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "api.notifications_api", None)  # as if renamed or deleted
    with pytest.raises(ImportError, match=r"api\.notifications_api"):
        create_app(sqlite_settings, runtime=sqlite_runtime)
