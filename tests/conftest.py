"""Shared fixtures: real PostgreSQL and Redis, the app on either database, signed-in clients and browsers.

PostgreSQL: one throwaway database per test session, created and dropped in the running server;
tables are truncated after each test that used it. Redis: one logical database (PIPELINE_TEST_REDIS_DB,
default 15) flushed before each test. Under CI a missing service fails the run; elsewhere it skips.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, text

from api.runtime import Runtime
from app import create_app
from db.migrate import upgrade
from db.models import Base
from db.session import make_engine
from settings import Settings

PG_ADMIN_URL = os.environ.get("PIPELINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_BASE_URL = os.environ.get("PIPELINE_TEST_REDIS", "redis://127.0.0.1:6379")
REDIS_DB = int(os.environ.get("PIPELINE_TEST_REDIS_DB", "15"))
SECRET = "test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable: {exc}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    name = f"pipeline_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    truncate_all(engine)
    engine.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A clean Redis logical database for this test."""
    from redis import Redis

    url = f"{REDIS_BASE_URL}/{REDIS_DB}"
    client = Redis.from_url(url)
    try:
        client.flushdb()
    except Exception as exc:
        _unavailable("Redis", exc)
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def settings(pg_url: str, pg_engine: Engine, redis_url: str, tmp_path: Path) -> Settings:
    """Production-like settings: PostgreSQL + Redis."""
    return Settings.from_env(
        {
            "DATABASE_URL": pg_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET,
            "DATA_DIR": str(tmp_path / "data"),
            "GPU_CLUSTER_API_KEY": "cluster-key-canary-7f3a9c",
        }
    )


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """The embedded default: SQLite file, no Redis."""
    return Settings.from_env({"DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": SECRET})


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.create(settings)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def sqlite_runtime(sqlite_settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.create(sqlite_settings)
    upgrade(runtime.engine)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> Any:
    dash_app = create_app(settings, runtime=runtime)
    dash_app.server.config["TESTING"] = True
    return dash_app


class Client(FlaskClient):
    """A test client that sends the same Origin a browser on our pages would."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Origin", "http://localhost")
        kwargs["headers"] = headers
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Any) -> FlaskClient:
    app.server.test_client_class = Client
    return app.server.test_client()


def make_user(runtime: Runtime, email: str, password: str = PASSWORD) -> int:
    from services.accounts import create_user

    with runtime.transaction() as session:
        return create_user(session, email, password).id


def make_token(runtime: Runtime, email: str) -> str:
    from services.accounts import issue_token

    with runtime.transaction() as session:
        return issue_token(session, email, name="test")


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/login", data={"email": email, "password": password})


@pytest.fixture
def user(runtime: Runtime) -> dict[str, Any]:
    email = "ada@example.com"
    return {"id": make_user(runtime, email), "email": email, "password": PASSWORD}


@pytest.fixture
def auth_client(client: FlaskClient, user: dict[str, Any]) -> FlaskClient:
    response = login(client, user["email"])
    assert response.status_code == 302
    return client


# ---- browser ---------------------------------------------------------------------------------


def pytest_setup_options() -> Any:
    """Headless Chromium for dash[testing] even without `--headless` on the command line."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    return options


@pytest.fixture
def signed_in_duo(dash_duo: Any, app: Any, user: dict[str, Any]) -> Any:
    """A dash_duo browser signed in through the real login page."""
    dash_duo.start_server(app, navigate=False, port=free_port())
    sign_in_browser(dash_duo, user["email"], user["password"])
    return dash_duo


def sign_in_browser(dash_duo: Any, email: str, password: str, next_path: str = "/training/jobs") -> None:
    dash_duo.driver.get(f"{dash_duo.server.url}/login?next={next_path}")
    dash_duo.wait_for_element("#email").send_keys(email)
    dash_duo.find_element("#password").send_keys(password)
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#react-entry-point", timeout=10)
    dash_duo.wait_for_text_to_equal("#navbar-user", email, timeout=10)
