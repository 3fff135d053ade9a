"""Per-user limits on active jobs, GPUs at once and estimated spend: refused at creation, with the
same words through the API and the configure page, and race-safe on real PostgreSQL (issue 14 item 1)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api.runtime import Runtime
from app import create_app
from components.job_form import FIELD_TYPE
from db.models import JobStatus, TrainingJob
from services.job_limits import LimitExceeded, UserLimits
from services.training_jobs import create_job
from settings import Settings
from tests.accounts import make_token, make_user
from tests.factories import make_dataset, make_job
from tests.integration.api_fixtures import ApiUser, job_request
from tests.integration.dash_calls import call

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def dataset_id(runtime: Runtime, alice: ApiUser) -> int:
    with runtime.transaction() as session:
        return make_dataset(session, alice.id).id


def _active_jobs(runtime: Runtime, user_id: int) -> int:
    with runtime.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(TrainingJob).where(TrainingJob.user_id == user_id)
            )
            or 0
        )


def _h100(dataset_id: int, count: int) -> dict[str, Any]:
    return job_request(dataset_id, gpu_config={"type": "H100", "count": count})


def test_sixth_active_job_is_refused_saying_which_limit(
    alice: ApiUser, runtime: Runtime, dataset_id: int
) -> None:
    """Was: one account could start twenty 8xH100 jobs (about $18,700) within 20 s."""
    ids = [
        alice.post("/api/jobs", json=_h100(dataset_id, 1)).get_json()["data"]["job"]["id"] for _ in range(5)
    ]
    refused = alice.post("/api/jobs", json=_h100(dataset_id, 1))
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["error"] == "Over your limit"
    assert body["details"]["limit"] == "max_active_jobs"
    assert (body["details"]["allowed"], body["details"]["would_be"], body["details"]["over_by"]) == (5, 6, 1)
    assert "5 active jobs" in body["details"]["message"]
    assert _active_jobs(runtime, alice.id) == 5

    assert alice.post(f"/api/jobs/{ids[0]}/cancel").status_code == 200  # finished work frees the slot
    assert alice.post("/api/jobs", json=_h100(dataset_id, 1)).status_code == 201


def test_gpus_at_once_are_limited(alice: ApiUser, runtime: Runtime, dataset_id: int) -> None:
    assert alice.post("/api/jobs", json=_h100(dataset_id, 8)).status_code == 201
    assert alice.post("/api/jobs", json=_h100(dataset_id, 8)).status_code == 201
    refused = alice.post("/api/jobs", json=_h100(dataset_id, 2))
    assert refused.status_code == 409
    details = refused.get_json()["details"]
    assert (details["limit"], details["allowed"], details["would_be"], details["over_by"]) == (
        "max_gpus",
        16,
        18,
        2,
    )
    assert "2 over" in details["message"]
    assert _active_jobs(runtime, alice.id) == 2


def test_estimated_spend_of_active_jobs_is_limited(settings: Settings, runtime: Runtime) -> None:
    changed = settings.with_overrides(max_active_spend_per_user=Decimal("100.00"))
    client = create_app(changed, runtime=replace(runtime, settings=changed)).server.test_client()
    user_id = make_user(runtime, "spender@example.com")
    headers = {"Authorization": f"Bearer {make_token(runtime, 'spender@example.com')}"}
    with runtime.transaction() as session:
        big = make_dataset(session, user_id, total_training_pairs=20_000, total_tokens=20_000 * 400).id
        # Terminal jobs cost nothing more: only active ones count.
        make_job(session, user_id, big, status=JobStatus.COMPLETED, estimated_total_cost=Decimal("5000"))
        make_job(session, user_id, big, status=JobStatus.RUNNING, estimated_total_cost=Decimal("95.00"))
    estimate = client.post("/api/jobs/estimate", json=_h100(big, 8), headers=headers).get_json()["data"]
    cost = Decimal(str(estimate["estimated_total_cost"]))
    assert cost > Decimal("5.00")
    refused = client.post("/api/jobs", json=_h100(big, 8), headers=headers)
    assert refused.status_code == 409
    details = refused.get_json()["details"]
    assert details["limit"] == "max_active_spend"
    assert Decimal(str(details["allowed"])) == Decimal("100.00")
    assert Decimal(str(details["would_be"])) == Decimal("95.00") + cost
    assert Decimal(str(details["over_by"])) == Decimal("95.00") + cost - Decimal("100.00")
    assert _active_jobs(runtime, user_id) == 2


def test_configure_page_shows_the_same_refusal(
    auth_client: FlaskClient, app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    with runtime.transaction() as session:
        dataset = make_dataset(session, user["id"])
        for _ in range(5):
            make_job(session, user["id"], dataset.id, status=JobStatus.RUNNING)
        dataset_id = dataset.id
    fields = [
        {"id": {"name": "dataset_id", "type": FIELD_TYPE}, "property": "value", "value": str(dataset_id)},
        {"id": {"name": "gpu_count", "type": FIELD_TYPE}, "property": "value", "value": 1},
    ]
    response = call(
        auth_client,
        app,
        "submit_job",
        [{"id": "configure-submit", "property": "n_clicks", "value": 1}],
        [
            fields,
            {"id": "configure-preset", "property": "value", "value": "fast"},
            {"id": "configure-clone-extra", "property": "data", "value": {}},
        ],
    )
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "The job was not created: You may have 5 active jobs at once; this one would make 6." in text
    assert _active_jobs(runtime, user["id"]) == 5


def test_two_concurrent_creations_by_one_user_cannot_both_pass(runtime: Runtime) -> None:
    """The user's row is locked while a creation is in flight: the second waits and sees the first."""
    user_id = make_user(runtime, "racer@example.com")
    with runtime.transaction() as session:
        dataset_id = make_dataset(session, user_id).id
    limits = UserLimits(max_active_jobs=1, max_gpus=16, max_active_spend=Decimal("1000"))
    first_created = threading.Event()
    outcomes: dict[str, str] = {}

    def first() -> None:
        with runtime.transaction() as session:
            create_job(session, user_id, _h100(dataset_id, 1), actor="t1", limits=limits)
            first_created.set()
            time.sleep(0.5)  # still uncommitted: without the lock the second would not see this job
        outcomes["first"] = "created"

    def second() -> None:
        first_created.wait(5)
        try:
            with runtime.transaction() as session:
                create_job(session, user_id, _h100(dataset_id, 1), actor="t2", limits=limits)
            outcomes["second"] = "created"
        except LimitExceeded as exc:
            outcomes["second"] = str(exc.details["limit"])  # type: ignore[index]

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert outcomes == {"first": "created", "second": "max_active_jobs"}
    assert _active_jobs(runtime, user_id) == 1
