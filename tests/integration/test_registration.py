"""Registration is closed by default, opens by setting or by a single-use invite that expires, says
the same whether or not the email is taken, and is rate-limited (issue 14 item 1)."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from api.runtime import Runtime
from app import create_app
from db.base import utcnow
from db.models import Invite, User
from services.accounts import register_user
from services.invites import consume_invite, create_invite
from settings import Settings
from tests.accounts import PASSWORD

ORIGIN = {"Origin": "http://localhost"}


def _users(runtime: Runtime) -> list[str]:
    with runtime.transaction() as session:
        return list(session.scalars(select(User.email).order_by(User.id)).all())


def _form(email: str, password: str = PASSWORD, **extra: str) -> dict[str, str]:
    return {"email": email, "password": password, "password_confirm": password, **extra}


@pytest.fixture
def open_client(settings: Settings, runtime: Runtime) -> FlaskClient:
    changed = settings.with_overrides(registration_open=True, registrations_per_hour=20)
    app = create_app(changed, runtime=replace(runtime, settings=changed))
    return app.server.test_client()


def _invite(runtime: Runtime, **kwargs: Any) -> str:
    with runtime.transaction() as session:
        return create_invite(session, **kwargs)


def test_registration_is_closed_by_default(client: FlaskClient, runtime: Runtime) -> None:
    """Was: anyone could open /register and make accounts in a loop (25 in 3 s)."""
    page = client.get("/register")
    assert page.status_code == 403
    assert "Registration is closed" in page.get_data(as_text=True)
    for i in range(3):
        assert client.post("/register", data=_form(f"bot{i}@example.com")).status_code == 403
    assert _users(runtime) == []
    assert "Create one" not in client.get("/login").get_data(as_text=True)


def test_open_registration_answers_the_same_for_new_and_taken_emails(
    open_client: FlaskClient, runtime: Runtime, user: dict[str, Any]
) -> None:
    new = open_client.post("/register", data=_form("New@Example.com"), headers=ORIGIN)
    taken = open_client.post("/register", data=_form(user["email"].upper()), headers=ORIGIN)
    assert new.status_code == taken.status_code == 302
    assert new.location == taken.location == "/login?registered=1"
    assert new.get_data() == taken.get_data()
    assert open_client.get_cookie("pipeline_session") is None  # nobody is signed in by registering
    assert _users(runtime) == [user["email"], "new@example.com"]
    with runtime.transaction() as session:
        stored = session.scalar(select(User).where(User.email == "new@example.com"))
        assert stored is not None
        assert stored.password_hash.startswith("scrypt:")
    notice = open_client.get("/login?registered=1").get_data(as_text=True)
    assert "Registration received" in notice
    signed_in = open_client.post(
        "/login", data={"email": "new@example.com", "password": PASSWORD}, headers=ORIGIN
    )
    assert signed_in.status_code == 302


@pytest.mark.parametrize(
    ("email", "password", "field_text"),
    [("not-an-email", PASSWORD, "valid email"), ("a@example.com", "short", "at least 10")],
)
def test_open_registration_refuses_bad_input(
    open_client: FlaskClient, runtime: Runtime, email: str, password: str, field_text: str
) -> None:
    response = open_client.post("/register", data=_form(email, password), headers=ORIGIN)
    assert response.status_code == 400
    assert field_text in response.get_data(as_text=True)
    assert _users(runtime) == []


def test_registration_is_rate_limited_per_address(settings: Settings, runtime: Runtime) -> None:
    changed = settings.with_overrides(registration_open=True, registrations_per_hour=3)
    client = create_app(changed, runtime=replace(runtime, settings=changed)).server.test_client()
    codes = [
        client.post(
            "/register",
            data=_form(f"r{i}@example.com"),
            headers=ORIGIN,
            environ_base={"REMOTE_ADDR": "203.0.113.9"},
        ).status_code
        for i in range(5)
    ]
    assert codes == [302, 302, 302, 429, 429]
    assert len(_users(runtime)) == 3
    elsewhere = client.post(
        "/register",
        data=_form("other@example.com"),
        headers=ORIGIN,
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert elsewhere.status_code == 302


def test_invite_link_opens_the_form_once(client: FlaskClient, runtime: Runtime) -> None:
    token = _invite(runtime, note="for grace")
    page = client.get(f"/register?invite={token}")
    assert page.status_code == 200
    assert re.search(rf'name="invite" value="{re.escape(token)}"', page.get_data(as_text=True))

    created = client.post("/register", data=_form("grace@example.com", invite=token), headers=ORIGIN)
    assert created.status_code == 302
    assert created.location == "/login?registered=1"
    assert _users(runtime) == ["grace@example.com"]

    again = client.post("/register", data=_form("mallory@example.com", invite=token), headers=ORIGIN)
    assert again.status_code == 403
    assert "used, expired or unknown" in again.get_data(as_text=True)
    assert client.get(f"/register?invite={token}").status_code == 403
    assert _users(runtime) == ["grace@example.com"]


@pytest.mark.parametrize("token", ["inv_made-up", "not-an-invite", "inv_" + "x" * 500])
def test_unknown_invite_is_refused(client: FlaskClient, runtime: Runtime, token: str) -> None:
    assert client.get("/register", query_string={"invite": token}).status_code == 403
    assert (
        client.post("/register", data=_form("x@example.com", invite=token), headers=ORIGIN).status_code == 403
    )
    assert _users(runtime) == []


def test_expired_invite_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    token = _invite(runtime, lifetime=timedelta(hours=1))
    with runtime.transaction() as session:
        session.execute(update(Invite).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get(f"/register?invite={token}").status_code == 403
    assert (
        client.post("/register", data=_form("late@example.com", invite=token), headers=ORIGIN).status_code
        == 403
    )
    assert _users(runtime) == []


def test_invite_used_by_a_taken_email_answers_the_same_and_is_spent(
    client: FlaskClient, runtime: Runtime, user: dict[str, Any]
) -> None:
    token = _invite(runtime)
    response = client.post("/register", data=_form(user["email"], invite=token), headers=ORIGIN)
    assert response.status_code == 302
    assert response.location == "/login?registered=1"
    with runtime.transaction() as session:
        assert (
            session.scalar(select(func.count()).select_from(Invite).where(Invite.used_at.is_not(None))) == 1
        )
    assert _users(runtime) == [user["email"]]


def test_two_registrations_racing_on_one_invite_make_one_account(runtime: Runtime) -> None:
    """The invite is spent by a conditional UPDATE: of two concurrent uses, exactly one wins."""
    token = _invite(runtime)
    barrier = threading.Barrier(2)
    won: list[bool] = []

    def use(email: str) -> None:
        with runtime.transaction() as session:
            barrier.wait(5)
            if consume_invite(session, token):
                register_user(session, email, PASSWORD)
                won.append(True)
            else:
                won.append(False)

    threads = [threading.Thread(target=use, args=(f"racer{i}@example.com",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(won) == [False, True]
    assert len(_users(runtime)) == 1
