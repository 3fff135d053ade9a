"""Datasets over the JSON API: JSONL validation, storage, limits and owner-only access (real PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from api.runtime import Runtime
from db.models import Dataset
from tests.factories import make_job
from tests.integration.api_fixtures import ApiUser, jsonl, upload


def _stored_files(runtime: Runtime) -> list[Path]:
    root = runtime.settings.data_dir / "datasets"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def _dataset_count(runtime: Runtime) -> int:
    with runtime.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Dataset)) or 0)


def test_upload_prompt_completion_counts_pairs_tokens_and_stores_file(
    alice: ApiUser, runtime: Runtime
) -> None:
    content = jsonl([{"prompt": "abcd" * 10, "completion": "efgh" * 10}] * 3)
    response = upload(alice, content, name="  qa pairs ")
    assert response.status_code == 201, response.get_json()
    data = response.get_json()["data"]
    assert data["name"] == "qa pairs"
    assert data["format"] == "prompt_completion"
    assert data["total_training_pairs"] == 3
    assert data["total_tokens"] == 3 * 20  # 80 characters per line, ~4 per token
    assert data["file_size"] == len(content)
    assert data["status"] == "ready"
    files = _stored_files(runtime)
    assert len(files) == 1
    assert files[0].read_bytes() == content
    assert "storage_path" not in data


def test_upload_chat_format(alice: ApiUser) -> None:
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    response = upload(alice, jsonl([line, line]) + b"\n\n")
    assert response.status_code == 201
    assert response.get_json()["data"]["format"] == "chat"
    assert response.get_json()["data"]["total_training_pairs"] == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"prompt": "a", "completion": "b"}\n{not json}\n', "line 2: not valid JSON"),
        (b'{"prompt": "a", "completion": "b"}\n[1, 2]\n', "line 2: must be a JSON object"),
        (b'{"prompt": "a"}\n', "line 1: 'completion' must be non-empty text"),
        (b'{"prompt": "a", "completion": "b", "x": 1}\n', "line 1: unknown field(s) x"),
        (b'{"messages": [{"role": "user", "content": "q"}]}\n', "at least one user and one assistant"),
        (b'{"messages": [{"role": "bot", "content": "q"}]}\n', "role must be one of"),
        (
            b'{"prompt": "a", "completion": "b"}\n{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n',
            "line 2: uses the chat format",
        ),
        (b"\xff\xfe\n", "line 1: not UTF-8"),
        (b"\n\n", "no examples"),
    ],
)
def test_bad_files_report_line_and_reason_and_store_nothing(
    alice: ApiUser, runtime: Runtime, content: bytes, expected: str
) -> None:
    response = upload(alice, content)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "Invalid dataset file"
    assert expected in body["details"]["file"]
    assert _dataset_count(runtime) == 0
    assert _stored_files(runtime) == []


def test_many_bad_lines_report_the_first_ten_and_the_total(alice: ApiUser) -> None:
    content = b"".join(b"oops\n" if i % 2 else b'{"prompt": "a", "completion": "b"}\n' for i in range(100))
    details = upload(alice, content).get_json()["details"]["file"]
    assert details.startswith("50 bad line(s). line 2: not valid JSON")
    assert "line 20:" in details
    assert "line 22:" not in details
    assert "(and 40 more bad lines)" in details


def test_upload_over_the_limit_is_413_and_stores_nothing(alice: ApiUser, app: Any, runtime: Runtime) -> None:
    app.server.config["MAX_CONTENT_LENGTH"] = 2000
    response = upload(alice, jsonl([{"prompt": "x" * 100, "completion": "y" * 100}] * 30))
    assert response.status_code == 413
    assert response.get_json()["error"] == "Request too large"
    assert _dataset_count(runtime) == 0
    assert _stored_files(runtime) == []


def test_service_limit_applies_even_below_the_request_limit(alice: ApiUser, runtime: Runtime) -> None:
    runtime.settings = runtime.settings.with_overrides(max_upload_bytes=1000)
    response = upload(alice, jsonl([{"prompt": "x" * 100, "completion": "y" * 100}] * 30))
    assert response.status_code == 413
    assert _stored_files(runtime) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"data": {"name": "x"}, "content_type": "multipart/form-data"}, "file"),
        ({"json": {"name": "x"}}, "body"),
        ({"data": {"name": "x", "extra": "1"}, "content_type": "multipart/form-data"}, "extra"),
    ],
)
def test_malformed_uploads_are_4xx(
    alice: ApiUser, runtime: Runtime, kwargs: dict[str, Any], field: str
) -> None:
    response = alice.post("/api/datasets", **kwargs)
    assert 400 <= response.status_code < 500
    assert field in response.get_json()["details"]
    assert _dataset_count(runtime) == 0


def test_missing_name_is_a_field_error(alice: ApiUser) -> None:
    response = upload(alice, name="x" * 201)
    assert response.status_code == 400
    assert "name" in response.get_json()["details"]


def test_list_and_get_are_owner_only(alice: ApiUser, bob: ApiUser) -> None:
    first = upload(alice, name="first").get_json()["data"]
    second = upload(alice, name="second").get_json()["data"]
    upload(bob, name="bobs")
    listing = alice.get("/api/datasets").get_json()["data"]
    assert [item["name"] for item in listing["items"]] == ["second", "first"]
    assert listing["total"] == 2
    assert alice.get(f"/api/datasets/{first['id']}").get_json()["data"] == first
    assert bob.get(f"/api/datasets/{first['id']}").status_code == 404
    assert bob.delete(f"/api/datasets/{second['id']}").status_code == 404
    assert alice.get(f"/api/datasets/{second['id']}").status_code == 200
    assert alice.get("/api/datasets/99999999999999999999999").status_code == 404
    assert alice.get("/api/datasets/abc").status_code == 404


def test_delete_removes_row_and_file(alice: ApiUser, runtime: Runtime) -> None:
    dataset = upload(alice).get_json()["data"]
    response = alice.delete(f"/api/datasets/{dataset['id']}")
    assert response.status_code == 200
    assert alice.get(f"/api/datasets/{dataset['id']}").status_code == 404
    assert _stored_files(runtime) == []


def test_delete_refused_while_a_job_uses_it(alice: ApiUser, runtime: Runtime) -> None:
    dataset = upload(alice).get_json()["data"]
    with runtime.transaction() as session:
        make_job(session, alice.id, dataset["id"])
    response = alice.delete(f"/api/datasets/{dataset['id']}")
    assert response.status_code == 409
    assert "1 active" in response.get_json()["details"]
    assert alice.get(f"/api/datasets/{dataset['id']}").status_code == 200
    assert len(_stored_files(runtime)) == 1


def test_unauthenticated_is_401_json(client: Any) -> None:
    response = client.get("/api/datasets")
    assert response.status_code == 401
    assert json.loads(response.data)["error"] == "Not authenticated"


def test_multipart_part_without_a_name_is_400(alice: ApiUser, runtime: Runtime) -> None:
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nnameless\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="extra"\r\n\r\ny\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--{boundary}--\r\n'
    )
    response = alice.post(
        "/api/datasets", data=body.encode(), content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 400
    assert _dataset_count(runtime) == 0
