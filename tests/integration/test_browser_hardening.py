"""Browser hardening (issue 14, item 9): security headers on every HTML page, a CSP that Dash's own
inline scripts satisfy, HSTS only over HTTPS, and no route that serves user data without a session.

Before: no response carried a Content-Security-Policy, X-Frame-Options/frame-ancestors,
X-Content-Type-Options, Referrer-Policy or HSTS.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from api.auth import PUBLIC_PATHS, PUBLIC_PREFIXES
from api.security_headers import HSTS

pytestmark = [pytest.mark.postgres]

INLINE_SCRIPT = re.compile(r"<script([^>]*)>(.*?)</script>", re.DOTALL)
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)  # Dash's IE warning sits in a conditional comment


def _directives(response: Any) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in policy.split("; ")}


def _inline_hashes(html: str) -> set[str]:
    """Hashes of the scripts a browser would run inline (not src=, not JSON data blocks)."""
    return {
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for attributes, script in INLINE_SCRIPT.findall(COMMENT.sub("", html))
        if "src=" not in attributes and "application/json" not in attributes
    }


def _assert_hardened(response: Any) -> dict[str, str]:
    assert response.mimetype == "text/html"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    directives = _directives(response)
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    # Every inline script the page carries is allowed by hash, and nothing else inline is.
    assert _inline_hashes(response.get_data(as_text=True)) <= set(directives["script-src"].split())
    return directives


def test_the_sign_in_page_is_hardened_and_its_theme_script_allowed(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    _assert_hardened(response)
    assert _inline_hashes(response.get_data(as_text=True))  # the theme script is really there


def test_dashboard_pages_are_hardened_and_dashs_inline_scripts_allowed(auth_client: FlaskClient) -> None:
    for path in ("/training/jobs", "/datasets", "/training/new", "/notifications"):
        response = auth_client.get(path)
        assert response.status_code == 200, path
        _assert_hardened(response)
        assert (
            len(_inline_hashes(response.get_data(as_text=True))) >= 2
        )  # the renderer + clientside callbacks


def test_json_answers_are_not_sniffed_and_leak_no_referrer(auth_client: FlaskClient) -> None:
    response = auth_client.get("/api/jobs")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_hsts_only_over_https(client: FlaskClient) -> None:
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == HSTS


def _sample_path(rule: Any) -> str:
    """A concrete path for a URL rule: each variable filled with a plausible value."""
    samples = {"int": "1", "path": "x/y.js", "default": "x"}
    return re.sub(
        r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>",
        lambda m: samples.get(m.group(1) or "default", "x"),
        rule.rule,
    )


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def test_no_route_serves_anything_without_a_session(app: Any, client: FlaskClient) -> None:
    """Walk every registered route, every method, anonymously: anything not public is a redirect
    to sign-in (page loads) or a 401 (everything else); public routes serve no user data."""
    client.get("/login")  # Dash registers its routes and pages' callbacks on the first request
    checked = 0
    for rule in app.server.url_map.iter_rules():
        path = _sample_path(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            checked += 1
            if _public(path):
                assert response.status_code != 500, (method, path)
                continue
            if response.status_code == 302:
                assert response.headers["Location"].startswith("/login"), (method, path)
            else:
                assert response.status_code == 401, (method, path, response.status_code)
    assert checked >= 25
    suite = client.get("/_dash-component-suites/dash/dash-renderer/build/dash_renderer.v4_4_1m1.min.js")
    assert suite.status_code in (200, 404)  # public: the renderer's bundles load before sign-in
