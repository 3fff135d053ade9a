"""Malformed requests to Dash's callback endpoint get 400 `{error, details}` (api/dash_requests.py).

Each body below made Dash raise inside its dispatcher (KeyError: 'output', TypeError, IndexError),
which the app answered as a 500 "Internal error" and logged as a server fault.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from api.dash_requests import MALFORMED

ENDPOINT = "/_dash-update-component"
MODAL = "mon-cancel-modal.is_open"  # the monitor's cancel dialog: two inputs, no state, one output
OUTPUT = {"id": "mon-cancel-modal", "property": "is_open"}
INPUTS: list[dict[str, Any]] = [
    {"id": "mon-cancel-open", "property": "n_clicks", "value": 1},
    {"id": "mon-cancel-dismiss", "property": "n_clicks", "value": None},
]
GOOD = {"output": MODAL, "outputs": OUTPUT, "inputs": INPUTS, "changedPropIds": ["mon-cancel-open.n_clicks"]}


def _post(client: FlaskClient, body: Any) -> Any:
    return client.post(ENDPOINT, data=json.dumps(body), content_type="application/json")


def test_a_well_formed_callback_is_dispatched_even_as_the_first_request(auth_client: FlaskClient) -> None:
    """The check reads the app's callbacks, which Dash collects on the first request: it must run after."""
    response = _post(auth_client, GOOD)
    assert response.status_code == 200
    assert response.get_json()["response"] == {"mon-cancel-modal": {"is_open": True}}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param({}, "'output' names no callback", id="empty-object"),
        pytest.param([], "JSON object", id="list"),
        pytest.param("x", "JSON object", id="string"),
        pytest.param(None, "JSON object", id="null"),
        pytest.param({**GOOD, "output": 5}, "'output' names no callback", id="output-not-a-string"),
        pytest.param({**GOOD, "output": "gone.children"}, "'output' names no callback", id="unknown-output"),
        pytest.param({**GOOD, "inputs": "x"}, "'inputs' must list the callback's 2", id="inputs-not-a-list"),
        pytest.param({**GOOD, "inputs": [1, 2]}, "'inputs'", id="inputs-not-objects"),
        pytest.param({**GOOD, "inputs": [{"id": "a"}, {"id": "b"}]}, "'inputs'", id="input-without-property"),
        pytest.param({**GOOD, "inputs": INPUTS[:1]}, "'inputs'", id="too-few-inputs"),
        pytest.param({**GOOD, "inputs": INPUTS * 2}, "'inputs'", id="too-many-inputs"),
        pytest.param({**GOOD, "state": "x"}, "'state'", id="state-not-a-list"),
        pytest.param({**GOOD, "changedPropIds": [1]}, "'changedPropIds'", id="changed-not-strings"),
        pytest.param({**GOOD, "changedPropIds": "abc"}, "'changedPropIds'", id="changed-not-a-list"),
        pytest.param({k: v for k, v in GOOD.items() if k != "outputs"}, "'outputs'", id="no-outputs"),
        pytest.param({**GOOD, "outputs": "x"}, "'outputs'", id="outputs-not-objects"),
    ],
)
def test_a_malformed_callback_body_is_a_400_with_the_reason(
    auth_client: FlaskClient, body: Any, detail: str
) -> None:
    response = _post(auth_client, body)
    assert response.status_code == 400
    answer = response.get_json()
    assert set(answer) == {"error", "details"}
    assert answer["error"] == MALFORMED
    assert detail in answer["details"]


def test_a_body_that_is_not_json_is_refused_by_flask_as_json(auth_client: FlaskClient) -> None:
    broken = auth_client.post(ENDPOINT, data="{not json", content_type="application/json")
    assert (broken.status_code, broken.get_json()["error"]) == (400, "Bad Request")
    untyped = auth_client.post(ENDPOINT, data="{}")
    assert (untyped.status_code, untyped.get_json()["error"]) == (415, "Unsupported Media Type")


@pytest.mark.parametrize(
    ("inputs", "detail"),
    [
        pytest.param(
            [{**INPUTS[0], "value": [1, 2]}, INPUTS[1]],
            "'n_clicks' of 'mon-cancel-open' cannot be list",
            id="list",
        ),
        pytest.param(
            [INPUTS[0], {**INPUTS[1], "value": {"a": 1}}],
            "'n_clicks' of 'mon-cancel-dismiss' cannot be dict",
            id="dict",
        ),
        pytest.param([{**INPUTS[0], "value": "1"}, INPUTS[1]], "cannot be str", id="text-for-a-number"),
    ],
)
def test_a_value_of_the_wrong_type_for_its_component_is_a_400(
    auth_client: FlaskClient, inputs: list[Any], detail: str
) -> None:
    answer = _post(auth_client, {**GOOD, "inputs": inputs})
    assert answer.status_code == 400
    assert detail in answer.get_json()["details"]


def test_a_clientside_callback_cannot_be_called_on_the_server(auth_client: FlaskClient) -> None:
    body = {
        "output": "theme-store.data",
        "outputs": {"id": "theme-store", "property": "data"},
        "inputs": [{"id": "theme-toggle", "property": "n_clicks", "value": 1}],
        "state": [{"id": "theme-store", "property": "data", "value": None}],
    }
    answer = _post(auth_client, body)
    assert (answer.status_code, answer.get_json()["error"]) == (400, MALFORMED)


def test_a_list_for_a_single_id_is_refused(auth_client: FlaskClient) -> None:
    answer = _post(auth_client, {**GOOD, "outputs": [OUTPUT]})
    assert (answer.status_code, answer.get_json()["error"]) == (400, MALFORMED)
