"""The forms pages' server side on the embedded default (SQLite, no Redis), through Dash's callbacks:
upload a dataset, price and create a job on it, see and mark the notification list."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from api.runtime import Runtime
from app import create_app
from components.job_form import FIELD_TYPE
from db.models import Dataset, JobStatus, Notification, TrainingJob
from settings import Settings
from tests.accounts import PASSWORD, login, make_user
from tests.fixtures.web import Client
from tests.integration.dash_calls import call


@pytest.fixture
def sqlite_app(sqlite_settings: Settings, sqlite_runtime: Runtime) -> Any:
    app = create_app(sqlite_settings, runtime=sqlite_runtime)
    app.server.config["TESTING"] = True
    app.server.test_client_class = Client
    return app


@pytest.fixture
def signed_in(sqlite_app: Any, sqlite_runtime: Runtime) -> tuple[FlaskClient, int]:
    user_id = make_user(sqlite_runtime, "ada@example.com")
    client = sqlite_app.server.test_client()
    assert login(client, "ada@example.com", PASSWORD).status_code == 302
    return client, user_id


def _text(response: Any) -> str:
    """The callback response as text with non-ASCII characters as they are shown (not \\u escapes)."""
    return json.dumps(response.get_json(), ensure_ascii=False)


def _data_url(text: str) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(text.encode()).decode()


def test_upload_then_create_a_job_on_the_embedded_default(
    signed_in: tuple[FlaskClient, int], sqlite_app: Any, sqlite_runtime: Runtime
) -> None:
    client, user_id = signed_in
    lines = "".join(json.dumps({"prompt": f"q{i}", "completion": f"a{i}"}) + "\n" for i in range(40))
    uploaded = call(
        client,
        sqlite_app,
        "upload_dataset",
        [{"id": "datasets-upload", "property": "contents", "value": _data_url(lines)}],
        [
            {"id": "datasets-upload", "property": "filename", "value": "tiny.jsonl"},
            {"id": "datasets-name", "property": "value", "value": None},
        ],
    )
    assert uploaded.status_code == 200
    assert "“tiny” is ready" in _text(uploaded)
    with sqlite_runtime.transaction() as session:
        dataset = session.scalars(select(Dataset)).one()
        assert (dataset.user_id, dataset.total_training_pairs) == (user_id, 40)
        dataset_id = dataset.id

    fields = [
        {"id": {"name": "dataset_id", "type": FIELD_TYPE}, "property": "value", "value": str(dataset_id)},
        {"id": {"name": "epochs", "type": FIELD_TYPE}, "property": "value", "value": 2},
        {"id": {"name": "gpu_count", "type": FIELD_TYPE}, "property": "value", "value": 2},
    ]
    created = call(
        client,
        sqlite_app,
        "submit_job",
        [{"id": "configure-submit", "property": "n_clicks", "value": 1}],
        [
            fields,
            {"id": "configure-preset", "property": "value", "value": "fast"},
            {"id": "configure-clone-extra", "property": "data", "value": {}},
        ],
    )
    assert created.status_code == 200
    with sqlite_runtime.transaction() as session:
        job = session.scalars(select(TrainingJob)).one()
        assert (job.status, job.total_epochs, job.gpu_config["count"]) == (JobStatus.QUEUED, 2, 2)
        assert job.gpu_config["type"] == "A100-40GB"  # the fast preset's GPU, not overridden
    assert f"/training/jobs/{job.id}" in _text(created)


def test_bad_upload_stores_nothing_on_the_embedded_default(
    signed_in: tuple[FlaskClient, int], sqlite_app: Any, sqlite_runtime: Runtime
) -> None:
    client, _ = signed_in
    response = call(
        client,
        sqlite_app,
        "upload_dataset",
        [
            {
                "id": "datasets-upload",
                "property": "contents",
                "value": _data_url('{"prompt": "x"}\nnot json\n'),
            }
        ],
        [
            {"id": "datasets-upload", "property": "filename", "value": "bad.jsonl"},
            {"id": "datasets-name", "property": "value", "value": "bad"},
        ],
    )
    text = _text(response)
    assert "nothing was stored" in text
    assert "line 1" in text
    assert "line 2" in text
    with sqlite_runtime.transaction() as session:
        assert session.scalars(select(Dataset)).all() == []


def test_mark_all_read_on_the_embedded_default(
    signed_in: tuple[FlaskClient, int], sqlite_app: Any, sqlite_runtime: Runtime
) -> None:
    client, user_id = signed_in
    with sqlite_runtime.transaction() as session:
        session.add_all(
            [
                Notification(user_id=user_id, type="job_completed", title=f"Done {i}", message="ok")
                for i in range(3)
            ]
        )
    response = call(
        client,
        sqlite_app,
        "mark_all_notifications_read",
        [{"id": "notifications-mark-all", "property": "n_clicks", "value": 1}],
        [{"id": "notifications-shown-page", "property": "data", "value": 1}],
    )
    assert response.status_code == 200
    assert "All 3 read" in _text(response)
    with sqlite_runtime.transaction() as session:
        assert session.scalars(select(Notification.read_at)).all().count(None) == 0
