"""Owner-only through Dash's callback endpoint: a crafted callback naming another user's dataset
or notification changes nothing and reveals nothing (the pages never offer those ids, but the
endpoint is reachable by anyone signed in)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api.runtime import Runtime
from components.dataset_view import DELETE_TYPE
from components.job_form import FEEDBACK_TYPE, FIELD_TYPE, HYPERPARAMETER_FIELDS
from components.notification_view import MARK_READ_TYPE
from db.models import Dataset, Notification, TrainingJob
from tests.accounts import make_user
from tests.factories import make_dataset
from tests.integration.dash_calls import call

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def mallory(runtime: Runtime) -> dict[str, Any]:
    user_id = make_user(runtime, "mallory@example.com")
    with runtime.transaction() as session:
        dataset = make_dataset(session, user_id, name="mallory-secret-set")
        notification = Notification(
            user_id=user_id, type="job_completed", title="Mallory's private job", message="secret"
        )
        session.add(notification)
        session.flush()
        return {"id": user_id, "dataset_id": dataset.id, "notification_id": notification.id}


# what the configure page holds when it was not opened from a job (Clone/Retry)
CLONE_EXTRA_STATE = {"id": "configure-clone-extra", "property": "data", "value": {}}


def test_submit_with_another_users_dataset_creates_no_job(
    auth_client: FlaskClient, app: Any, runtime: Runtime, mallory: dict[str, Any]
) -> None:
    fields = [
        {
            "id": {"name": "dataset_id", "type": FIELD_TYPE},
            "property": "value",
            "value": str(mallory["dataset_id"]),
        },
        *(
            {"id": {"name": spec.name, "type": FIELD_TYPE}, "property": "value", "value": None}
            for spec in HYPERPARAMETER_FIELDS
        ),
    ]
    response = call(
        auth_client,
        app,
        "submit_job",
        [{"id": "configure-submit", "property": "n_clicks", "value": 1}],
        [
            fields,
            {"id": "configure-preset", "property": "value", "value": "balanced"},
            CLONE_EXTRA_STATE,
        ],
    )
    assert response.status_code == 200
    assert "/training/jobs/" not in response.get_data(as_text=True)
    assert "The job was not created" in response.get_data(as_text=True)
    with runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(TrainingJob)) == 0


def test_estimate_with_another_users_dataset_reveals_nothing(
    auth_client: FlaskClient, app: Any, mallory: dict[str, Any]
) -> None:
    fields = [
        {
            "id": {"name": "dataset_id", "type": FIELD_TYPE},
            "property": "value",
            "value": str(mallory["dataset_id"]),
        }
    ]
    outputs = [
        {"id": "configure-estimate", "property": "children"},
        [{"id": {"name": "dataset_id", "type": FIELD_TYPE}, "property": "invalid"}],
        [{"id": {"name": "dataset_id", "type": FEEDBACK_TYPE}, "property": "children"}],
        {"id": "configure-form-errors", "property": "children"},
    ]
    response = call(
        auth_client,
        app,
        "live_estimate",
        [fields, {"id": "configure-preset", "property": "value", "value": "fast"}],
        [CLONE_EXTRA_STATE],
        outputs=outputs,
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "mallory-secret-set" not in text
    assert "Fix the highlighted fields" in text
    assert f"No dataset {mallory['dataset_id']} in your account" in text  # same words as a missing id


def test_delete_of_another_users_dataset_is_refused_and_it_stays(
    auth_client: FlaskClient, app: Any, runtime: Runtime, mallory: dict[str, Any]
) -> None:
    asked = call(
        auth_client,
        app,
        "ask_delete",
        [
            [{"id": {"id": mallory["dataset_id"], "type": DELETE_TYPE}, "property": "n_clicks", "value": 1}],
            {"id": "datasets-delete-cancel", "property": "n_clicks", "value": None},
        ],
    )
    assert "mallory-secret-set" not in asked.get_data(as_text=True)
    confirmed = call(
        auth_client,
        app,
        "confirm_delete",
        [{"id": "datasets-delete-confirm", "property": "n_clicks", "value": 1}],
        [{"id": "datasets-delete-target", "property": "data", "value": mallory["dataset_id"]}],
    )
    text = confirmed.get_data(as_text=True)
    assert confirmed.status_code == 200
    assert "Dataset not found" in text
    assert "mallory-secret-set" not in text
    with runtime.transaction() as session:
        assert (
            session.scalar(select(Dataset.name).where(Dataset.id == mallory["dataset_id"]))
            == "mallory-secret-set"
        )


def test_mark_read_of_another_users_notification_changes_nothing(
    auth_client: FlaskClient, app: Any, runtime: Runtime, mallory: dict[str, Any]
) -> None:
    response = call(
        auth_client,
        app,
        "mark_notification_read",
        [
            [
                {
                    "id": {"id": mallory["notification_id"], "type": MARK_READ_TYPE},
                    "property": "n_clicks",
                    "value": 1,
                }
            ]
        ],
        [{"id": "notifications-shown-page", "property": "data", "value": 1}],
    )
    assert response.status_code == 200
    assert "Mallory" not in response.get_data(as_text=True)
    with runtime.transaction() as session:
        assert (
            session.scalar(select(Notification.read_at).where(Notification.id == mallory["notification_id"]))
            is None
        )


def test_callbacks_refuse_without_a_session(client: FlaskClient) -> None:
    body = {
        "output": "navbar-bell.children",
        "outputs": {"id": "navbar-bell", "property": "children"},
        "inputs": [{"id": "navbar-bell-interval", "property": "n_intervals", "value": 1}],
        "changedPropIds": ["navbar-bell-interval.n_intervals"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 401
    assert response.get_json()["error"] == "Not authenticated"
