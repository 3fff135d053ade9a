"""Signed dataset downloads: the one unauthenticated file route gives bytes only for a valid signature."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from api.runtime import Runtime
from contract.signing import signed_dataset_url
from db.models import Dataset
from tests.integration.api_fixtures import ApiUser, jsonl, upload

CONTENT = jsonl([{"prompt": "secret question", "completion": "secret answer"}] * 3)


@pytest.fixture
def storage_path(alice: ApiUser, runtime: Runtime) -> str:
    dataset_id = upload(alice, CONTENT).get_json()["data"]["id"]
    with runtime.transaction() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.id == dataset_id))
        assert dataset is not None
        return dataset.storage_path


def _relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _signed(runtime: Runtime, path: str, **kwargs: Any) -> str:
    return _relative(signed_dataset_url(runtime.settings.secret_key, "http://public.example", path, **kwargs))


def test_valid_signature_downloads_without_a_session(
    client: FlaskClient, runtime: Runtime, storage_path: str
) -> None:
    response = client.get(_signed(runtime, storage_path))
    assert response.status_code == 200
    assert response.data == CONTENT


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: url.replace("signature=", "signature=0"),
        lambda url: url[:-1] + ("0" if url[-1] != "0" else "1"),
        lambda url: url.split("&signature=")[0],
        lambda url: url.split("?")[0],
        lambda url: url.replace("expires=", "expires=9"),
        lambda url: url.replace(".jsonl", ".jsonl.part"),
        lambda url: url.split("&signature=")[0] + "&signature=%C3%A9",
        lambda url: url.replace("expires=", "expires=%C3%A9"),
    ],
)
def test_tampered_links_get_403_and_no_bytes(
    client: FlaskClient, runtime: Runtime, storage_path: str, tamper: Any
) -> None:
    response = client.get(tamper(_signed(runtime, storage_path)))
    assert response.status_code == 403
    assert b"secret" not in response.data
    assert response.get_json()["error"] == "Forbidden"


def test_expired_link_gets_403(client: FlaskClient, runtime: Runtime, storage_path: str) -> None:
    url = _signed(runtime, storage_path, ttl_seconds=60, now=time.time() - 120)
    response = client.get(url)
    assert response.status_code == 403
    assert b"secret" not in response.data


def test_signature_for_another_key_is_refused(client: FlaskClient, storage_path: str) -> None:
    url = _relative(signed_dataset_url("another-secret-key-entirely-000", "http://x", storage_path))
    assert client.get(url).status_code == 403


def test_path_escape_is_refused_even_when_signed(
    client: FlaskClient, runtime: Runtime, storage_path: str
) -> None:
    (runtime.settings.data_dir / "secret_key_copy").write_text("top secret")
    response = client.get(_signed(runtime, "../secret_key_copy"))
    assert response.status_code in (403, 404)
    assert b"top secret" not in response.data


def test_signed_link_to_a_deleted_file_is_404(client: FlaskClient, runtime: Runtime, alice: ApiUser) -> None:
    dataset_id = upload(alice, CONTENT).get_json()["data"]["id"]
    with runtime.transaction() as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        path = dataset.storage_path
    alice.delete(f"/api/datasets/{dataset_id}")
    assert client.get(_signed(runtime, path)).status_code == 404
