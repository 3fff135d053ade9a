"""Sign-in limits stop guessers without locking the owner out, and forwarded headers are believed
only from configured proxies (issue 14 item 5), against real PostgreSQL and Redis."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask.testing import FlaskClient

from api.runtime import Runtime
from app import create_app
from settings import Settings
from tests.accounts import PASSWORD

WRONG = "wrong password!!"


def _login(client: FlaskClient, email: str, password: str, address: str, **headers: str) -> Any:
    return client.post(
        "/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers={"Origin": "http://localhost", **headers},
    )


def _app_client(settings: Settings, runtime: Runtime, **overrides: Any) -> FlaskClient:
    changed = settings.with_overrides(**overrides)
    app = create_app(changed, runtime=replace(runtime, settings=changed))
    return app.server.test_client()


def test_bad_passwords_from_one_address_do_not_lock_the_owner_out_elsewhere(
    client: FlaskClient, user: dict[str, Any]
) -> None:
    """Was: 14 bad passwords from one address and the owner got 429 from every address."""
    codes = [_login(client, user["email"], WRONG, "203.0.113.9").status_code for _ in range(14)]
    assert codes[:5] == [401] * 5
    assert set(codes[5:]) == {429}  # the guesser is slowed down on this account at once
    assert _login(client, user["email"], PASSWORD, "203.0.113.9").status_code == 429
    owner = _login(client, user["email"], PASSWORD, "198.51.100.7")
    assert owner.status_code == 302
    assert owner.location == "/training/jobs"


def test_per_account_limit_escalates_and_says_when_to_retry(
    client: FlaskClient, user: dict[str, Any]
) -> None:
    for _ in range(5):
        assert _login(client, user["email"], WRONG, "203.0.113.9").status_code == 401
    refused = _login(client, user["email"], WRONG, "203.0.113.9")
    assert refused.status_code == 429
    assert "Too many sign-in attempts" in refused.get_data(as_text=True)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another account tried from the same address has its own budget.
    assert _login(client, "someone@example.com", WRONG, "203.0.113.9").status_code == 401


def test_successful_sign_ins_do_not_spend_the_account_budget(
    client: FlaskClient, user: dict[str, Any]
) -> None:
    for _ in range(8):
        client.post("/logout")
        assert _login(client, user["email"], PASSWORD, "198.51.100.7").status_code == 302


def test_one_address_is_limited_across_accounts(client: FlaskClient, runtime: Runtime) -> None:
    codes = [_login(client, f"u{i}@example.com", WRONG, "203.0.113.9").status_code for i in range(11)]
    assert codes == [401] * 10 + [429]  # LOGIN_ATTEMPTS_PER_MINUTE=10 per address
    assert _login(client, "u0@example.com", WRONG, "198.51.100.7").status_code == 401


def test_forwarded_for_is_believed_from_a_trusted_proxy(
    settings: Settings, runtime: Runtime, user: dict[str, Any]
) -> None:
    """Behind one trusted proxy every client has its own address, not the proxy's."""
    client = _app_client(settings, runtime, trusted_proxies=1)
    for _ in range(6):
        _login(client, user["email"], WRONG, "10.0.0.2", **{"X-Forwarded-For": "203.0.113.9"})
    assert (
        _login(client, user["email"], PASSWORD, "10.0.0.2", **{"X-Forwarded-For": "203.0.113.9"}).status_code
        == 429
    )
    owner = _login(client, user["email"], PASSWORD, "10.0.0.2", **{"X-Forwarded-For": "198.51.100.7"})
    assert owner.status_code == 302


def test_forwarded_for_is_ignored_without_trusted_proxies(client: FlaskClient, user: dict[str, Any]) -> None:
    """A client cannot dodge its address's budget by inventing X-Forwarded-For values."""
    codes = [
        _login(client, user["email"], WRONG, "203.0.113.9", **{"X-Forwarded-For": f"192.0.2.{i}"}).status_code
        for i in range(6)
    ]
    assert codes == [401] * 5 + [429]


def test_https_origin_is_ours_behind_a_trusted_tls_proxy(
    settings: Settings, runtime: Runtime, user: dict[str, Any]
) -> None:
    """The proxy terminates TLS and forwards plain http: the browser's https Origin must match."""
    proxied = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "pipeline.example",
        "X-Forwarded-For": "198.51.100.7",
    }
    origin = {"Origin": "https://pipeline.example"}
    client = _app_client(settings, runtime, trusted_proxies=1)
    assert (
        client.post(
            "/login", data={"email": user["email"], "password": PASSWORD}, headers={**proxied, **origin}
        ).status_code
        == 302
    )
    callback = client.post("/_dash-update-component", json={}, headers={**proxied, **origin})
    assert callback.status_code == 400  # past the Origin check; the empty payload is refused as malformed
    assert callback.get_json()["error"] == "Malformed callback request"

    untrusted = _app_client(settings, runtime)
    refused = untrusted.post(
        "/login", data={"email": user["email"], "password": PASSWORD}, headers={**proxied, **origin}
    )
    assert (
        refused.status_code == 403
    )  # without TRUSTED_PROXIES the forwarded scheme and host are not believed


def test_public_base_url_origin_is_accepted(
    settings: Settings, runtime: Runtime, user: dict[str, Any]
) -> None:
    client = _app_client(settings, runtime, public_base_url="https://pipeline.example")
    response = client.post(
        "/login",
        data={"email": user["email"], "password": PASSWORD},
        headers={"Origin": "https://pipeline.example"},
    )
    assert response.status_code == 302
