"""The `lora-pipeline` commands for schema, users and tokens, run as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, select

from cli.demo import DEMO_EMAIL
from db.models import ApiToken, User
from db.session import make_engine, make_session_factory

ROOT = Path(__file__).resolve().parents[2]


def run_cli(
    args: list[str], env: dict[str, str], stdin: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    # Run from another folder as the project's own module: PYTHONPATH finds the checkout.
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=cwd,
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


def _embedded_demo_folder(folder: Path) -> None:
    """What `lora-pipeline demo --data-dir folder` leaves behind: the schema and the demo user."""
    from api.runtime import Runtime
    from cli.demo import demo_settings, ensure_demo_user
    from db.migrate import upgrade

    runtime = Runtime.create(demo_settings(folder, "127.0.0.1", 8050))
    upgrade(runtime.engine)
    ensure_demo_user(runtime, folder)
    runtime.engine.dispose()


def test_tokens_create_takes_the_demos_data_dir_from_any_folder(pg_url: str, tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    demo.mkdir()
    _embedded_demo_folder(demo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # A shell that points at PostgreSQL: --data-dir still means the demo's embedded database.
    env = {**os.environ, "DATABASE_URL": pg_url, "SECRET_KEY": "x" * 32}
    env.pop("DATA_DIR", None)
    token = run_cli(["tokens", "create", DEMO_EMAIL, "--data-dir", str(demo)], env, cwd=elsewhere)
    assert token.returncode == 0, token.stderr
    value = token.stdout.strip()
    assert value.startswith("lp_")
    engine = make_engine(f"sqlite:///{demo / 'pipeline.sqlite3'}")
    with make_session_factory(engine)() as session:
        assert [t.name for t in session.scalars(select(ApiToken))] == ["cli"]
    engine.dispose()
    assert list(elsewhere.iterdir()) == []  # nothing created where the command ran


def test_cli_errors_are_one_line_with_an_exit_code_never_a_traceback(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DATA_DIR")}
    missing = run_cli(
        ["tokens", "create", DEMO_EMAIL, "--data-dir", str(tmp_path / "nope")], env, cwd=tmp_path
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"error: no PIPELINE database in {tmp_path / 'nope'} (expected pipeline.sqlite3); "
        "start `lora-pipeline demo --data-dir` there first"
    ]
    assert not (tmp_path / "nope").exists()

    # Outside the demo's folder, without --data-dir: an empty default database, not a traceback.
    no_schema = run_cli(["tokens", "create", DEMO_EMAIL], env, cwd=tmp_path)
    assert no_schema.returncode == 1
    lines = no_schema.stderr.strip().splitlines()
    assert len(lines) == 1, no_schema.stderr
    assert lines[0].startswith("database error: no such table: users; is the schema created")
    assert "--data-dir .data/demo" in lines[0]
