"""Accounts, sessions, tokens and the single guard, against real PostgreSQL and Redis."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from api.auth import is_safe_next
from api.runtime import Runtime
from db.models import User
from tests.accounts import PASSWORD, login, make_token, make_user


def _user_count(runtime: Runtime) -> int:
    with runtime.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


def test_wrong_password_and_unknown_email_look_the_same(client: FlaskClient, user: dict[str, Any]) -> None:
    wrong = login(client, user["email"], "wrong password!!")
    unknown = login(client, "nobody@example.com", "wrong password!!")
    assert wrong.status_code == unknown.status_code == 401
    assert "Incorrect email or password." in wrong.get_data(as_text=True)
    assert "Incorrect email or password." in unknown.get_data(as_text=True)


def test_page_load_redirects_to_login_with_next(client: FlaskClient) -> None:
    response = client.get("/training/jobs/abc?tab=config", headers={"Accept": "text/html"})
    assert response.status_code == 302
    assert response.location == "/login?next=%2Ftraining%2Fjobs%2Fabc%3Ftab%3Dconfig"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/_dash-update-component"),
        ("GET", "/_dash-layout"),
        ("GET", "/_dash-dependencies"),
        ("GET", "/api/jobs"),
        ("POST", "/api/jobs/123/cancel"),
    ],
)
def test_unauthenticated_machine_requests_get_401_json(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method, headers={"Accept": "application/json"})
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] == "Not authenticated"
    assert body["details"]


def test_public_routes_need_no_login(client: FlaskClient) -> None:
    assert client.get("/login").status_code == 200
    closed = client.get("/register")  # reachable without a session; closed by default (test_registration)
    assert closed.status_code == 403
    assert "Registration is closed" in closed.get_data(as_text=True)
    assert client.get("/api/health").get_json()["data"] == {"status": "ok", "database": "ok", "redis": "ok"}
    assert client.get("/assets/vendor/00-bootstrap.min.css").status_code == 200


def test_login_then_logout_and_cookie_replay_is_refused(client: FlaskClient, user: dict[str, Any]) -> None:
    before = client.get_cookie("pipeline_session")
    response = login(client, user["email"])
    assert response.status_code == 302
    assert response.location == "/training/jobs"
    cookie = client.get_cookie("pipeline_session")
    assert cookie is not None
    assert before is None or before.value != cookie.value
    assert client.get("/training/jobs").status_code == 200

    assert client.post("/logout").status_code == 302
    assert client.get("/training/jobs").status_code == 302
    # Replay the cookie captured while signed in: the server must not accept it any more.
    client.set_cookie("pipeline_session", cookie.value)
    assert client.get("/training/jobs").status_code == 302


def test_session_cookie_flags(client: FlaskClient, user: dict[str, Any]) -> None:
    response = login(client, user["email"])
    header = next(v for k, v in response.headers.items() if k == "Set-Cookie" and "pipeline_session" in v)
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header  # served over plain HTTP in this test


def test_secure_cookie_over_https(settings, runtime: Runtime) -> None:
    from app import create_app

    secure = create_app(settings.with_overrides(session_cookie_secure=True), runtime=runtime)
    assert secure.server.config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/training/jobs/1", True),
        ("/training/jobs?status=running", True),
        ("https://evil.example/", False),
        ("//evil.example/", False),
        ("/\\evil.example", False),
        ("javascript:alert(1)", False),
        ("", False),
    ],
)
def test_next_must_stay_on_site(target: str, safe: bool) -> None:
    assert is_safe_next(target) is safe


def test_login_ignores_offsite_next(client: FlaskClient, user: dict[str, Any]) -> None:
    response = client.post(
        "/login", data={"email": user["email"], "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.location == "/training/jobs"


def test_login_rate_limit_is_shared_through_redis(app: Any, settings, user: dict[str, Any]) -> None:
    """Two web processes share the counters: a second app on the same Redis sees the first's attempts."""
    from api.runtime import Runtime as RuntimeType
    from app import create_app

    first = app.server.test_client()
    second = create_app(settings, runtime=RuntimeType.create(settings)).server.test_client()
    headers = {"Origin": "http://localhost"}
    for client in [first, second] * 5:
        client.post("/login", data={"email": user["email"], "password": "nope nope nope"}, headers=headers)
    response = first.post("/login", data={"email": user["email"], "password": PASSWORD}, headers=headers)
    assert response.status_code == 429


def test_token_authenticates_api_and_revocation_ends_it(client: FlaskClient, runtime: Runtime) -> None:
    from services.accounts import revoke_tokens

    make_user(runtime, "bot@example.com")
    token = make_token(runtime, "bot@example.com")
    ok = client.post("/_dash-update-component", headers={"Authorization": f"Bearer {token}"}, json={})
    assert ok.status_code == 400  # authenticated; the empty payload is refused as malformed, not a 500
    assert ok.get_json()["error"] == "Malformed callback request"
    assert client.get("/training/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get_cookie("pipeline_session") is None  # token requests never start a session

    with runtime.transaction() as session:
        assert revoke_tokens(session, "bot@example.com") == 1
    revoked = client.get("/training/jobs", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401
    assert "revoked" in revoked.get_json()["details"]


def test_token_last_used_is_kept_to_the_minute_without_a_write_per_request(
    client: FlaskClient, runtime: Runtime
) -> None:
    from db.models import ApiToken
    from services.accounts import LAST_USED_RESOLUTION

    make_user(runtime, "poller@example.com")
    headers = {"Authorization": f"Bearer {make_token(runtime, 'poller@example.com')}"}

    def last_used() -> datetime | None:
        with runtime.transaction() as session:
            return session.scalars(select(ApiToken.last_used_at)).one()

    assert client.get("/api/jobs", headers=headers).status_code == 200
    first = last_used()
    assert first is not None
    assert client.get("/api/jobs", headers=headers).status_code == 200
    assert last_used() == first  # a poll every few seconds does not rewrite the token row

    with runtime.transaction() as session:
        session.execute(update(ApiToken).values(last_used_at=first - LAST_USED_RESOLUTION))
    assert client.get("/api/jobs", headers=headers).status_code == 200
    refreshed = last_used()
    assert refreshed is not None
    assert refreshed > first


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer lp_unknown-token", "Basic abc", "Bearer not-our-format"]
)
def test_malformed_or_unknown_token_is_401(client: FlaskClient, header: str) -> None:
    response = client.get("/api/health-check-does-not-exist", headers={"Authorization": header})
    assert response.status_code == 401
    assert set(response.get_json()) == {"error", "details"}


def test_cross_site_cookie_post_is_refused(client: FlaskClient, user: dict[str, Any]) -> None:
    login(client, user["email"])
    response = client.post("/_dash-update-component", json={}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert response.get_json()["error"] == "Cross-site request refused"


def test_root_redirects_signed_in_users_to_jobs(auth_client: FlaskClient) -> None:
    response = auth_client.get("/")
    assert response.status_code == 302
    assert response.location == "/training/jobs"
