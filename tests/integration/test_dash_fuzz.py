"""Every registered Dash callback, called through `/_dash-update-component` with hypothesis-made
payloads: none answers 5xx (issue 14, item 7).

The renderer always sends the declared ids and properties with values of the component's types,
but the endpoint is reachable by anyone signed in, with any body. Payloads here keep the shape of a
real request for each callback (its output key, its inputs and states, wildcard inputs as lists of
concrete ids) and fill the values with anything JSON can carry: wrong types, huge numbers, odd text,
nested lists and objects. A second strategy breaks the shape itself. Whatever arrives, the answer
is a callback result or a 4xx `{error, details}`, never a server error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.runtime import Runtime
from db.models import Notification
from tests.factories import make_dataset, make_job

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ENDPOINT = "/_dash-update-component"
EXAMPLES = int(os.environ.get("PIPELINE_FUZZ_EXAMPLES", "15"))
DERANDOMIZE = not os.environ.get("PIPELINE_FUZZ_RANDOM")

# Values the pages really use; the fixture adds the ids of a real job, dataset and notification.
PLAUSIBLE: list[object] = ["balanced", "running", "log", "linear", "step", "time", "dark", "1", "/datasets"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.integers(min_value=-3, max_value=5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.deferred(lambda: st.sampled_from(PLAUSIBLE)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _concrete_ids(wildcard: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A concrete id matching a pattern-matching id: the wildcard keys get any plausible value."""
    return st.fixed_dictionaries(
        {
            key: (
                st.text(max_size=12)
                | st.integers(-5, 10**6)
                | st.sampled_from(["name", "rank"])
                | st.deferred(lambda: st.sampled_from(PLAUSIBLE))
            )
            if value == ["ALL"]
            else st.just(value)
            for key, value in wildcard.items()
        }
    )


def _dependency(dep_id: str, prop: str, *, with_value: bool) -> st.SearchStrategy[Any]:
    """One input/state/output as the renderer sends it (a list of them for a wildcard id)."""

    def item(ids: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
        fields: dict[str, st.SearchStrategy[Any]] = {"id": ids, "property": st.just(prop)}
        if with_value:
            fields["value"] = VALUES
        return st.fixed_dictionaries(fields)

    if not dep_id.startswith("{"):
        return item(st.just(dep_id))
    pattern = json.loads(dep_id)
    if ["ALL"] in pattern.values():
        return st.lists(item(_concrete_ids(pattern)), max_size=3)
    return item(st.just(pattern))


def _outputs(key: str) -> st.SearchStrategy[Any]:
    if "." not in key:  # a callback without outputs: its key is a hash
        return st.just([])
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    deps = []
    for part in parts:
        component, prop = part.rsplit(".", 1)
        deps.append(_dependency(component, prop, with_value=False))
    return st.tuples(*deps).map(list) if key.startswith("..") else deps[0]


def _changed(inputs: list[Any]) -> list[str]:
    flat = [each for item in inputs for each in (item if isinstance(item, list) else [item])]
    return [
        f"{json.dumps(dep['id'], sort_keys=True, separators=(',', ':')) if isinstance(dep['id'], dict) else dep['id']}.{dep['property']}"
        for dep in flat[:1]
    ]


def _well_shaped(key: str, spec: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    inputs = st.tuples(*(_dependency(d["id"], d["property"], with_value=True) for d in spec["inputs"]))
    state = st.tuples(*(_dependency(d["id"], d["property"], with_value=True) for d in spec["state"]))
    return st.builds(
        lambda ins, sts, outs: {
            "output": key,
            "outputs": outs,
            "inputs": list(ins),
            "state": list(sts),
            "changedPropIds": _changed(list(ins)),
        },
        inputs,
        state,
        _outputs(key),
    )


def _misshapen(key: str) -> st.SearchStrategy[Any]:
    """The request's keys with any values, or any JSON at all."""
    return (
        st.fixed_dictionaries(
            {"output": st.just(key)},
            optional={name: VALUES for name in ("outputs", "inputs", "state", "changedPropIds")},
        )
        | VALUES
    )


@pytest.fixture
def owned_job(runtime: Runtime, user: dict[str, Any]) -> Iterator[str]:
    """A dataset, a job and a notification of the signed-in user, so ids sometimes name something real."""
    with runtime.transaction() as session:
        dataset = make_dataset(session, user["id"])
        job = make_job(session, user["id"], dataset.id)
        notification = Notification(user_id=user["id"], type="job_completed", title="t", message="m")
        session.add(notification)
        session.flush()
        real = [str(job.id), f"/training/jobs/{job.id}", dataset.id, str(dataset.id), notification.id]
    PLAUSIBLE.extend(real)
    yield str(real[0])
    del PLAUSIBLE[-len(real) :]


def test_no_callback_answers_a_server_error(auth_client: FlaskClient, app: Any, owned_job: str) -> None:
    auth_client.get("/training/jobs")  # Dash collects the pages' callbacks on the first request
    failures: list[str] = []
    for key, spec in list(app.callback_map.items()):
        _fuzz_one(auth_client, key, spec, failures)
    assert failures == [], "\n".join(failures)


def _fuzz_one(client: FlaskClient, key: str, spec: dict[str, Any], failures: list[str]) -> None:
    name = getattr(spec.get("callback"), "__name__", key[:40])

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=DERANDOMIZE,
    )
    @given(body=_well_shaped(key, spec) | _misshapen(key))
    def run(body: Any) -> None:
        response = client.post(ENDPOINT, data=json.dumps(body), content_type="application/json")
        if response.status_code >= 500:
            failures.append(f"{name}: {json.dumps(body)[:300]} -> {response.get_data(as_text=True)[:200]}")

    run()
