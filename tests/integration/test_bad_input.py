"""Hostile input gets a clean 4xx and changes nothing: never a 500 (issue 14, item 7).

Each case below answered 500 "Internal error" before the request edge refused it: PostgreSQL
refuses NUL in text and psycopg cannot encode a lone surrogate, a 4,000-digit integer overflows
`float()` and bigint, and JSON nested 2,000 deep raises RecursionError inside the JSON decoder.
The edge now refuses them in one place each: the app's JSON decoder (api/request_parsing.py, every
`/api/*` and `/_dash-update-component` body), the form and query check beside it, and the dataset
line check (services/dataset_files.py).
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.runtime import Runtime
from components.job_form import FIELD_TYPE
from db.models import Dataset, TrainingJob, User
from tests.integration.api_fixtures import GOOD_LINES, ApiUser, job_request, jsonl, upload
from tests.integration.dash_calls import call
from tests.integration.test_callbacks import running_job, signed_post, stored_steps

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

NUL = "bad\x00name"
SURROGATE = "bad\ud800name"
HUGE = int("9" * 4000)  # below Python's 4,300-digit int-str limit: it parses, then overflows
HUGER = "9" * 5000  # beyond the limit: the decoder itself raises ValueError
DEEP = "[" * 2000 + "]" * 2000


def _counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.transaction() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (User, Dataset, TrainingJob)
        )


def _refused(response: Any) -> dict[str, Any]:
    """A 4xx `{error, details}`; returns the answer."""
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:300]
    answer = response.get_json()
    assert set(answer) == {"error", "details"}
    return dict(answer)


def _post_json(user: ApiUser, path: str, raw: str) -> Any:
    return user.post(path, data=raw, content_type="application/json")


@pytest.fixture
def dataset_id(alice: ApiUser) -> int:
    return int(upload(alice).get_json()["data"]["id"])


# --- text with NUL or a lone surrogate -----------------------------------------------------------


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_a_job_name_with_broken_text_is_refused(
    alice: ApiUser, dataset_id: int, runtime: Runtime, bad: str
) -> None:
    before = _counts(runtime)
    answer = _refused(_post_json(alice, "/api/jobs", json.dumps(job_request(dataset_id, name=bad))))
    assert "NUL" in json.dumps(answer) or "surrogate" in json.dumps(answer)
    assert _counts(runtime) == before


def test_a_dataset_name_with_nul_is_refused(alice: ApiUser, runtime: Runtime) -> None:
    before = _counts(runtime)
    _refused(upload(alice, name=NUL))
    assert _counts(runtime) == before


def test_an_upload_named_only_by_a_file_name_with_nul_is_refused(alice: ApiUser, runtime: Runtime) -> None:
    before = _counts(runtime)
    data = {"file": (io.BytesIO(jsonl(GOOD_LINES)), "evil\x00.jsonl")}
    _refused(alice.post("/api/datasets", data=data, content_type="multipart/form-data"))
    assert _counts(runtime) == before


def test_a_query_parameter_with_nul_is_refused(alice: ApiUser) -> None:
    _refused(alice.get("/api/jobs?status=running%00"))


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_an_email_with_nul_is_refused_at_the_forms(client: FlaskClient, runtime: Runtime, path: str) -> None:
    before = _counts(runtime)
    form = {"email": "eve\x00@example.com", "password": "long enough password"}
    response = client.post(path, data={**form, "password_confirm": form["password"]})
    assert 400 <= response.status_code < 500
    assert "NUL" in response.get_data(as_text=True)
    assert _counts(runtime) == before


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_a_dash_upload_named_with_broken_text_is_refused(
    auth_client: FlaskClient, app: Any, runtime: Runtime, bad: str
) -> None:
    before = _counts(runtime)
    contents = "data:application/octet-stream;base64," + base64.b64encode(jsonl(GOOD_LINES)).decode()
    response = call(
        auth_client,
        app,
        "upload_dataset",
        [{"id": "datasets-upload", "property": "contents", "value": contents}],
        [
            {"id": "datasets-upload", "property": "filename", "value": "d.jsonl"},
            {"id": "datasets-name", "property": "value", "value": bad},
        ],
    )
    _refused(response)
    assert _counts(runtime) == before


def test_a_dash_job_name_with_nul_is_refused(
    auth_client: FlaskClient, app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    before = _counts(runtime)
    fields = [{"id": {"name": "name", "type": FIELD_TYPE}, "property": "value", "value": NUL}]
    response = call(
        auth_client,
        app,
        "submit_job",
        [{"id": "configure-submit", "property": "n_clicks", "value": 1}],
        [fields, {"id": "configure-preset", "property": "value", "value": "balanced"}],
    )
    _refused(response)
    assert _counts(runtime) == before


# --- numbers beyond reason -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"hyperparameters": {"learning_rate": HUGE}},
        {"budget_limit": HUGE},
        {"gpu_config": {"type": "A100-80GB", "count": HUGE}},
        {"dataset_id": HUGE},
    ],
    ids=["learning-rate", "budget", "gpu-count", "dataset-id"],
)
@pytest.mark.parametrize("path", ["/api/jobs", "/api/jobs/estimate"])
def test_a_4000_digit_integer_in_a_job_request_is_refused(
    alice: ApiUser, dataset_id: int, runtime: Runtime, overrides: dict[str, Any], path: str
) -> None:
    before = _counts(runtime)
    _refused(_post_json(alice, path, json.dumps({**job_request(dataset_id), **overrides})))
    assert _counts(runtime) == before


def test_an_integer_beyond_the_int_str_limit_is_refused(alice: ApiUser, dataset_id: int) -> None:
    raw = json.dumps(job_request(dataset_id)).replace('"epochs": 2', f'"epochs": {HUGER}')
    assert HUGER in raw
    _refused(_post_json(alice, "/api/jobs", raw))
    _refused(alice.get(f"/api/jobs?limit={HUGER}"))


def test_a_4000_digit_id_in_a_dash_callback_is_refused(
    auth_client: FlaskClient, app: Any, runtime: Runtime
) -> None:
    before = _counts(runtime)
    response = call(
        auth_client,
        app,
        "confirm_delete",
        [{"id": "datasets-delete-confirm", "property": "n_clicks", "value": 1}],
        [{"id": "datasets-delete-target", "property": "data", "value": HUGE}],
    )
    _refused(response)
    assert _counts(runtime) == before


# --- JSON nested 2,000 deep ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/jobs", "/api/jobs/estimate"])
def test_deeply_nested_json_on_the_api_is_refused(alice: ApiUser, runtime: Runtime, path: str) -> None:
    before = _counts(runtime)
    answer = _refused(_post_json(alice, path, '{"name": ' + DEEP + "}"))
    assert "deep" in json.dumps(answer)
    assert _counts(runtime) == before


def test_deeply_nested_json_on_the_dash_endpoint_is_refused(auth_client: FlaskClient) -> None:
    for body in (DEEP, '{"output": "x", "inputs": ' + DEEP + "}"):
        response = auth_client.post("/_dash-update-component", data=body, content_type="application/json")
        _refused(response)


def test_a_dataset_line_nested_2000_deep_is_a_bad_line(alice: ApiUser, runtime: Runtime) -> None:
    before = _counts(runtime)
    content = jsonl(GOOD_LINES[:3]) + ('{"prompt": ' + DEEP + ', "completion": "c"}\n').encode()
    answer = _refused(upload(alice, content))
    assert "line 4" in answer["details"]["file"]
    assert _counts(runtime) == before


def test_a_signed_training_callback_nested_2000_deep_is_a_400(
    client: FlaskClient, sessions: sessionmaker[Session], owner: int
) -> None:
    """Even a correctly signed callback (the cluster holds the job's secret) cannot raise a
    RecursionError in the decoder; nothing is stored for the job."""
    job_id = running_job(sessions, owner)
    raw = ('{"job_id": "' + str(job_id) + '", "status": "running", "metrics": ' + DEEP + "}").encode()
    _refused(signed_post(client, job_id, raw))
    assert stored_steps(sessions, job_id) == []
