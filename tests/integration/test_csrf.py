"""The CSRF rule for cookie-authenticated writes (api/auth.py): Origin, else Referer, must be this site.

The shared `client` fixture adds `Origin: http://localhost` to every request, as a browser on our
pages would, so it can never show what happens without one. These tests use a plain FlaskClient that
sends exactly the headers each test gives it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from api.runtime import Runtime
from db.models import Dataset, JobStatus, TrainingJob
from services.accounts import issue_token
from tests.factories import make_dataset, make_job

SITE = "http://localhost"  # the Flask test client's host


@pytest.fixture
def bare_client(app: Any) -> FlaskClient:
    """A test client that adds no Origin or Referer of its own."""
    app.server.test_client_class = FlaskClient
    client: FlaskClient = app.server.test_client()
    return client


@pytest.fixture
def signed_in(bare_client: FlaskClient, user: dict[str, Any]) -> FlaskClient:
    form = {"email": user["email"], "password": user["password"]}
    assert bare_client.post("/login", data=form, headers={"Origin": SITE}).status_code == 302
    return bare_client


@pytest.fixture
def queued_job(runtime: Runtime, user: dict[str, Any]) -> uuid.UUID:
    with runtime.transaction() as session:
        return make_job(session, user["id"], make_dataset(session, user["id"]).id).id


def _status(runtime: Runtime, job_id: uuid.UUID) -> str:
    with runtime.sessions() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        return job.status


def _refused(response: Any) -> None:
    assert response.status_code == 403
    assert response.get_json() == {
        "error": "Cross-site request refused",
        "details": "The request's Origin is not this site.",
    }


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="neither-origin-nor-referer"),
        pytest.param({"Origin": "https://evil.example"}, id="foreign-origin"),
        pytest.param({"Origin": "null"}, id="opaque-origin"),
        pytest.param({"Origin": "http://localhost.evil.example"}, id="our-host-as-a-prefix"),
        pytest.param({"Origin": "https://localhost"}, id="other-scheme"),
        pytest.param({"Origin": "http://localhost:8050"}, id="other-port"),
        pytest.param({"Referer": "https://evil.example/training/jobs"}, id="foreign-referer"),
        pytest.param(
            {"Origin": "https://evil.example", "Referer": f"{SITE}/training/jobs"}, id="origin-wins"
        ),
    ],
)
def test_a_cookie_write_not_from_this_site_is_refused_and_changes_nothing(
    signed_in: FlaskClient, runtime: Runtime, queued_job: uuid.UUID, headers: dict[str, str]
) -> None:
    _refused(signed_in.post(f"/api/jobs/{queued_job}/cancel", headers=headers))
    assert _status(runtime, queued_job) == JobStatus.QUEUED.value


def test_every_unsafe_method_is_checked_not_only_post(
    signed_in: FlaskClient, runtime: Runtime, user: dict[str, Any]
) -> None:
    with runtime.transaction() as session:
        dataset_id = make_dataset(session, user["id"]).id
    _refused(signed_in.delete(f"/api/datasets/{dataset_id}"))
    with runtime.sessions() as session:
        assert session.get(Dataset, dataset_id) is not None


def test_a_dash_callback_without_origin_is_refused(signed_in: FlaskClient) -> None:
    _refused(signed_in.post("/_dash-update-component", json={"output": "x.children", "inputs": []}))


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": SITE}, id="origin"),
        pytest.param({"Referer": f"{SITE}/training/jobs?status=active"}, id="referer-without-origin"),
    ],
)
def test_a_cookie_write_from_this_site_is_accepted(
    signed_in: FlaskClient, runtime: Runtime, queued_job: uuid.UUID, headers: dict[str, str]
) -> None:
    response = signed_in.post(f"/api/jobs/{queued_job}/cancel", headers=headers)
    assert response.status_code == 200
    assert _status(runtime, queued_job) == JobStatus.CANCELLED.value


def test_reads_need_no_origin(signed_in: FlaskClient, queued_job: uuid.UUID) -> None:
    assert signed_in.get(f"/api/jobs/{queued_job}").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [pytest.param({}, id="no-origin"), pytest.param({"Origin": "https://elsewhere.example"}, id="foreign")],
)
def test_bearer_token_writes_are_not_subject_to_the_origin_rule(
    bare_client: FlaskClient,
    runtime: Runtime,
    user: dict[str, Any],
    queued_job: uuid.UUID,
    headers: dict[str, str],
) -> None:
    with runtime.transaction() as session:
        token = issue_token(session, user["email"], name="script")
    response = bare_client.post(
        f"/api/jobs/{queued_job}/cancel", headers={"Authorization": f"Bearer {token}", **headers}
    )
    assert response.status_code == 200
    assert _status(runtime, queued_job) == JobStatus.CANCELLED.value
    assert bare_client.get_cookie("pipeline_session") is None


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_sign_in_and_registration_forms_refuse_a_post_without_origin(
    bare_client: FlaskClient, user: dict[str, Any], path: str
) -> None:
    form = {"email": user["email"], "password": user["password"], "password_confirm": user["password"]}
    response = bare_client.post(path, data=form)
    assert response.status_code == 403
    assert bare_client.get("/api/jobs").status_code == 401  # not signed in
