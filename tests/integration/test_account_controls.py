"""An operator can disable a user and list, revoke and expire API tokens (CLI and service), and a
disabled user's sessions and tokens stop working at once (issue 14 item 1)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine, select, update

from api.runtime import Runtime
from db.base import utcnow
from db.models import ApiToken, Invite
from db.session import make_session_factory
from services.accounts import set_disabled
from tests.accounts import login, make_token
from tests.integration.test_cli import run_cli


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_disabled_user_loses_session_token_and_sign_in(
    auth_client: FlaskClient, runtime: Runtime, user: dict[str, Any]
) -> None:
    token = make_token(runtime, user["email"])
    assert auth_client.get("/api/jobs").status_code == 200
    assert auth_client.get("/api/jobs", headers=_bearer(token)).status_code == 200

    with runtime.transaction() as session:
        set_disabled(session, user["email"], disabled=True)
    assert auth_client.get("/api/jobs").status_code == 401  # the open session stops working
    assert auth_client.get("/api/jobs", headers=_bearer(token)).status_code == 401
    assert login(auth_client, user["email"]).status_code == 401

    with runtime.transaction() as session:
        set_disabled(session, user["email"], disabled=False)
    assert auth_client.get("/api/jobs").status_code == 401  # the old session never comes back
    assert auth_client.get("/api/jobs", headers=_bearer(token)).status_code == 200
    assert login(auth_client, user["email"]).status_code == 302


def test_expired_token_is_refused(client: FlaskClient, runtime: Runtime, user: dict[str, Any]) -> None:
    token = make_token(runtime, user["email"])
    assert client.get("/api/jobs", headers=_bearer(token)).status_code == 200
    with runtime.transaction() as session:
        session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    refused = client.get("/api/jobs", headers=_bearer(token))
    assert refused.status_code == 401
    assert "expired" in refused.get_json()["details"]


def test_cli_disables_invites_and_manages_token_expiry(pg_url: str, pg_engine: Engine, tmp_path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "SECRET_KEY": "x" * 32,
        "DATA_DIR": str(tmp_path),
        "PUBLIC_BASE_URL": "https://pipeline.example",
    }
    env.pop("REDIS_URL", None)
    assert (
        run_cli(
            ["users", "create", "op@example.com", "--password-stdin"], env, "long enough password\n"
        ).returncode
        == 0
    )

    week = run_cli(["tokens", "create", "op@example.com", "--name", "week", "--expires-days", "7"], env)
    forever = run_cli(["tokens", "create", "op@example.com", "--name", "forever", "--expires-days", "0"], env)
    assert week.returncode == forever.returncode == 0
    with make_session_factory(pg_engine)() as session:
        expiries = {
            name: at for name, at in session.execute(select(ApiToken.name, ApiToken.expires_at)).all()
        }
    assert expiries["forever"] is None
    week_expiry = expiries["week"]
    assert week_expiry is not None
    assert timedelta(days=6, hours=23) < week_expiry - utcnow() <= timedelta(days=7)

    assert run_cli(["tokens", "revoke", "op@example.com", "--name", "week"], env).returncode == 0
    listing = run_cli(["tokens", "list", "op@example.com"], env)
    assert listing.returncode == 0
    rows = {line.split("\t")[1]: line.split("\t")[2] for line in listing.stdout.strip().splitlines()[1:]}
    assert rows == {"week": "revoked", "forever": "active"}
    assert run_cli(["tokens", "list", "ghost@example.com"], env).returncode == 2

    disabled = run_cli(["users", "disable", "op@example.com"], env)
    assert disabled.returncode == 0
    assert "disabled" in disabled.stdout
    assert run_cli(["users", "disable", "ghost@example.com"], env).returncode == 2

    invite = run_cli(["users", "invite", "--hours", "2", "--note", "for grace"], env)
    assert invite.returncode == 0, invite.stderr
    link = invite.stdout.strip()
    assert link.startswith("https://pipeline.example/register?invite=inv_")
    with make_session_factory(pg_engine)() as session:
        stored = session.scalars(select(Invite)).one()
        assert stored.note == "for grace"
        assert link.split("=", 1)[1] not in stored.token_hash
        assert timedelta(hours=1, minutes=59) < stored.expires_at - utcnow() <= timedelta(hours=2)
    assert run_cli(["users", "invite", "--hours", "10000"], env).returncode == 2
