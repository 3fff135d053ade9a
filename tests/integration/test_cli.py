"""The `lora-pipeline` commands for schema, users and tokens, run as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, select

from db.models import ApiToken, User
from db.session import make_session_factory


def run_cli(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def test_users_and_tokens_commands(pg_url: str, pg_engine: Engine, tmp_path) -> None:
    env = {**os.environ, "DATABASE_URL": pg_url, "SECRET_KEY": "x" * 32, "DATA_DIR": str(tmp_path)}
    env.pop("REDIS_URL", None)
    assert run_cli(["db", "upgrade"], env).returncode == 0

    created = run_cli(
        ["users", "create", "cli@example.com", "--password-stdin"], env, "long enough password\n"
    )
    assert created.returncode == 0, created.stderr
    duplicate = run_cli(
        ["users", "create", "cli@example.com", "--password-stdin"], env, "long enough password\n"
    )
    assert duplicate.returncode == 2
    assert "already exists" in duplicate.stderr
    short = run_cli(["users", "create", "b@example.com", "--password-stdin"], env, "short\n")
    assert short.returncode == 2
    assert "at least 10" in short.stderr

    token = run_cli(["tokens", "create", "cli@example.com", "--name", "laptop"], env)
    assert token.returncode == 0
    value = token.stdout.strip()
    assert value.startswith("lp_")
    assert "shown once" in token.stderr
    with make_session_factory(pg_engine)() as session:
        stored = session.scalars(select(ApiToken)).one()
        assert stored.name == "laptop"
        assert value not in stored.token_hash
        assert session.scalars(select(User.email)).all() == ["cli@example.com"]

    assert run_cli(["tokens", "create", "ghost@example.com"], env).returncode == 2
    revoked = run_cli(["tokens", "revoke", "cli@example.com"], env)
    assert revoked.returncode == 0
    assert "revoked 1" in revoked.stdout


def test_bad_settings_exit_2_with_the_name(tmp_path) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path), "SUBMIT_BATCH_SIZE": "lots"}
    result = run_cli(["db", "upgrade"], env)
    assert result.returncode == 2
    assert "SUBMIT_BATCH_SIZE" in result.stderr
    assert "Traceback" not in result.stderr


def test_startup_line_of_a_real_process_masks_the_database_password(
    pg_url: str, pg_engine: Engine, tmp_path
) -> None:
    """`lora-pipeline cycle` logs its settings at start; the password in DATABASE_URL is masked.

    The test server trusts local connections, so the password is sent but not needed."""
    parts = urlsplit(pg_url)
    with_password = urlunsplit(
        parts._replace(
            netloc=f"{parts.username or 'postgres'}:pg-pass-canary@{parts.hostname}:{parts.port or 5432}"
        )
    )
    env = {**os.environ, "DATABASE_URL": with_password, "SECRET_KEY": "x" * 32, "DATA_DIR": str(tmp_path)}
    env.pop("REDIS_URL", None)
    result = run_cli(["cycle"], env)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "starting cycle" in output
    assert ":***@" in output
    assert "pg-pass-canary" not in output
