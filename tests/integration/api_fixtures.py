"""Fixtures for the JSON API tests: two users with tokens, datasets and jobs owned by each."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from api.runtime import Runtime
from tests.accounts import make_token, make_user


@dataclass
class ApiUser:
    id: int
    email: str
    token: str
    client: FlaskClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.client.post(path, headers=self.headers, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.client.delete(path, headers=self.headers, **kwargs)


def _api_user(app: Any, runtime: Runtime, email: str) -> ApiUser:
    user_id = make_user(runtime, email)
    client = app.server.test_client()
    return ApiUser(id=user_id, email=email, token=make_token(runtime, email), client=client)


@pytest.fixture
def alice(app: Any, client: FlaskClient, runtime: Runtime) -> ApiUser:
    return _api_user(app, runtime, "alice@example.com")


@pytest.fixture
def bob(app: Any, client: FlaskClient, runtime: Runtime) -> ApiUser:
    return _api_user(app, runtime, "bob@example.com")


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


GOOD_LINES = [{"prompt": f"Question {i}?", "completion": f"Answer number {i}."} for i in range(40)]


def upload(user: ApiUser, content: bytes = b"", name: str = "support", **extra: Any) -> Any:
    data: dict[str, Any] = {"name": name, "file": (io.BytesIO(content or jsonl(GOOD_LINES)), "data.jsonl")}
    data.update(extra)
    return user.post("/api/datasets", data=data, content_type="multipart/form-data")


def job_request(dataset_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dataset_id": dataset_id,
        "preset_id": "balanced",
        "hyperparameters": {"learning_rate": 2e-4, "batch_size": 8, "epochs": 2, "rank": 16, "alpha": 32},
        "gpu_config": {"type": "A100-80GB", "count": 2},
    }
    body.update(overrides)
    return body
