"""Accounts as tests make them: the shared password and secret key, users, API tokens, form login."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from api.runtime import Runtime

SECRET = "test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery"


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
