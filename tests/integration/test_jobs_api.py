"""Jobs over the JSON API: estimate, create, list, detail, cancel, owner-only access (real PostgreSQL + Redis)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api.runtime import Runtime
from db.base import utcnow
from db.models import JobEvent, JobStatus, Notification, TrainingJob
from tests.accounts import login
from tests.factories import make_dataset, make_job
from tests.integration.api_fixtures import ApiUser, job_request, upload


@pytest.fixture
def dataset_id(alice: ApiUser) -> int:
    return int(upload(alice).get_json()["data"]["id"])  # 40 pairs


def _job_count(runtime: Runtime) -> int:
    with runtime.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(TrainingJob)) or 0)


def test_estimate_fills_preset_and_prices_without_storing(
    alice: ApiUser, dataset_id: int, runtime: Runtime
) -> None:
    response = alice.post("/api/jobs/estimate", json={"dataset_id": dataset_id, "preset_id": "fast"})
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert data["hyperparameters"]["batch_size"] == 16
    assert data["steps_per_epoch"] == 3  # ceil(40 / 16)
    assert data["total_steps"] == 3
    assert data["gpu_config"] == {"type": "A100-40GB", "count": 1}
    assert data["hourly_rate"] == 2.8  # money is a JSON number (docs/api.md, "Money")
    assert Decimal(data["estimated_total_cost"]) > 0
    assert _job_count(runtime) == 0


def test_explicit_fields_override_the_preset(alice: ApiUser, dataset_id: int) -> None:
    body = {"dataset_id": dataset_id, "preset_id": "quality", "hyperparameters": {"epochs": 2}}
    data = alice.post("/api/jobs/estimate", json=body).get_json()["data"]
    assert data["hyperparameters"]["epochs"] == 2
    assert data["hyperparameters"]["rank"] == 64
    assert data["total_epochs"] == 2


def test_create_queues_job_with_totals_cost_and_event(
    alice: ApiUser, dataset_id: int, runtime: Runtime
) -> None:
    response = alice.post("/api/jobs", json=job_request(dataset_id, name="first run"))
    assert response.status_code == 201, response.get_json()
    job = response.get_json()["data"]["job"]
    assert job["status"] == "queued"
    assert job["name"] == "first run"
    assert job["total_epochs"] == 2
    assert job["total_steps"] == 10  # ceil(40 / 8) × 2
    assert Decimal(job["estimated_total_cost"]) == Decimal(
        response.get_json()["data"]["estimate"]["estimated_total_cost"]
    )
    with runtime.transaction() as session:
        events = session.scalars(select(JobEvent).where(JobEvent.job_id == uuid.UUID(job["id"]))).all()
        assert [(e.kind, e.to_status, e.actor) for e in events] == [("queued", "queued", f"user:{alice.id}")]


def test_estimate_and_create_warn_when_the_estimate_is_over_the_budget(
    alice: ApiUser, dataset_id: int
) -> None:
    plain = alice.post("/api/jobs/estimate", json=job_request(dataset_id)).get_json()["data"]
    assert plain["budget_limit"] is None
    assert plain["budget_warning"] is None
    estimated = Decimal(plain["estimated_total_cost"])

    tight = job_request(dataset_id, budget_limit=str((estimated / 2).quantize(Decimal("0.0001"))))
    data = alice.post("/api/jobs/estimate", json=tight).get_json()["data"]
    assert Decimal(data["budget_limit"]) < estimated
    assert "stopped when its cost is about to reach the budget" in data["budget_warning"]
    created = alice.post("/api/jobs", json=tight)
    assert created.status_code == 201  # a warning, not a refusal
    assert created.get_json()["data"]["estimate"]["budget_warning"] == data["budget_warning"]

    ample = job_request(dataset_id, budget_limit=str(estimated * 2))
    assert alice.post("/api/jobs/estimate", json=ample).get_json()["data"]["budget_warning"] is None
    assert alice.post("/api/jobs", json=ample).get_json()["data"]["estimate"]["budget_warning"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gpu_config": {"type": "TPU-v9", "count": 1}}, "gpu_config.type"),
        ({"gpu_config": {"type": "H100", "count": 9}}, "gpu_config.count"),
        ({"gpu_config": {"type": "H100", "count": 0}}, "gpu_config.count"),
        ({"gpu_config": {"type": "H100", "count": 1.5}}, "gpu_config.count"),
        ({"hyperparameters": {"learning_rate": 0}}, "hyperparameters.learning_rate"),
        ({"hyperparameters": {"learning_rate": 2}}, "hyperparameters.learning_rate"),
        ({"hyperparameters": {"batch_size": -8}}, "hyperparameters.batch_size"),
        ({"hyperparameters": {"epochs": 10_000}}, "hyperparameters.epochs"),
        ({"hyperparameters": {"rank": "16"}}, "hyperparameters.rank"),
        ({"hyperparameters": {"rank": True}}, "hyperparameters.rank"),
        ({"hyperparameters": {"dropout": 1.5}}, "hyperparameters.dropout"),
        ({"hyperparameters": {"max_seq_length": 4}}, "hyperparameters.max_seq_length"),
        ({"hyperparameters": {"learning_rat": 1e-4}}, "hyperparameters.learning_rat"),
        ({"hyperparameters": [1, 2]}, "hyperparameters"),
        ({"preset_id": "turbo"}, "preset_id"),
        ({"dataset_id": "1"}, "dataset_id"),
        ({"surprise": 1}, "surprise"),
        ({"budget_limit": "-5"}, "budget_limit"),
        ({"name": "x" * 101}, "name"),
    ],
)
def test_bad_job_requests_name_the_field_and_store_nothing(
    alice: ApiUser, dataset_id: int, runtime: Runtime, change: dict[str, Any], field: str
) -> None:
    for path in ("/api/jobs", "/api/jobs/estimate"):
        response = alice.post(path, json={**job_request(dataset_id), **change})
        assert response.status_code == 400, response.get_json()
        assert field in response.get_json()["details"]
    assert _job_count(runtime) == 0


def test_all_bad_fields_are_reported_at_once(alice: ApiUser, dataset_id: int) -> None:
    body = job_request(dataset_id, gpu_config={"type": "nope", "count": 99}, hyperparameters={"rank": 0})
    details = alice.post("/api/jobs", json=body).get_json()["details"]
    assert {"gpu_config.type", "gpu_config.count", "hyperparameters.rank"} <= set(details)


def test_nan_and_infinity_are_refused(alice: ApiUser, dataset_id: int, runtime: Runtime) -> None:
    raw = f'{{"dataset_id": {dataset_id}, "hyperparameters": {{"learning_rate": NaN, "alpha": Infinity}}}}'
    response = alice.post("/api/jobs", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert {"hyperparameters.learning_rate", "hyperparameters.alpha"} <= set(response.get_json()["details"])
    assert _job_count(runtime) == 0


def test_another_users_dataset_is_refused(
    alice: ApiUser, bob: ApiUser, dataset_id: int, runtime: Runtime
) -> None:
    response = bob.post("/api/jobs", json=job_request(dataset_id))
    assert response.status_code == 400
    assert "dataset_id" in response.get_json()["details"]
    assert _job_count(runtime) == 0


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400),
        ({"data": "[1, 2]", "content_type": "application/json"}, 400),
        ({"data": "dataset_id=1", "content_type": "application/x-www-form-urlencoded"}, 415),
        ({"data": "x" * 100, "content_type": "text/plain"}, 415),
        ({"data": '{"name": "' + "x" * 70_000 + '"}', "content_type": "application/json"}, 413),
    ],
)
def test_malformed_bodies_are_4xx(
    alice: ApiUser, runtime: Runtime, kwargs: dict[str, Any], status: int
) -> None:
    for path in ("/api/jobs", "/api/jobs/estimate"):
        response = alice.post(path, **kwargs)
        assert response.status_code == status
        assert set(response.get_json()) == {"error", "details"}
    assert _job_count(runtime) == 0


def _jobs(runtime: Runtime, user_id: int, statuses: list[JobStatus]) -> list[str]:
    with runtime.transaction() as session:
        dataset = make_dataset(session, user_id)
        ids = []
        for offset, status in enumerate(statuses):
            created = utcnow().replace(microsecond=0)
            job = make_job(
                session, user_id, dataset.id, status=status, created_at=created.replace(second=offset)
            )
            ids.append(str(job.id))
        return ids


def test_list_is_newest_first_filtered_and_paginated(alice: ApiUser, bob: ApiUser, runtime: Runtime) -> None:
    statuses = [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.RUNNING, JobStatus.FAILED]
    ids = _jobs(runtime, alice.id, statuses)
    _jobs(runtime, bob.id, [JobStatus.RUNNING])
    everything = alice.get("/api/jobs").get_json()["data"]
    assert [job["id"] for job in everything["items"]] == ids[::-1]
    assert everything["total"] == 5
    running = alice.get("/api/jobs?status=running").get_json()["data"]
    assert [job["id"] for job in running["items"]] == [ids[3], ids[1]]
    finished = alice.get("/api/jobs?status=completed,failed").get_json()["data"]
    assert {job["status"] for job in finished["items"]} == {"completed", "failed"}
    page = alice.get("/api/jobs?limit=2&offset=2").get_json()["data"]
    assert [job["id"] for job in page["items"]] == [ids[2], ids[1]]
    assert page["total"] == 5
    assert alice.get("/api/jobs?status=bogus").status_code == 400
    assert alice.get("/api/jobs?limit=0").status_code == 400
    assert alice.get("/api/jobs?limit=abc").status_code == 400


def test_detail_of_a_new_job_has_the_specs_shape(alice: ApiUser, dataset_id: int) -> None:
    job_id = alice.post("/api/jobs", json=job_request(dataset_id)).get_json()["data"]["job"]["id"]
    body = alice.get(f"/api/jobs/{job_id}").get_json()
    assert body["success"] is True
    assert set(body["data"]) == {"job", "metrics", "metrics_summary", "cost_records", "events"}
    assert body["data"]["job"]["id"] == job_id
    assert body["data"]["job"]["artifact"] is None
    assert body["data"]["metrics"] == []
    assert body["data"]["metrics_summary"]["total_points"] == 0
    assert body["data"]["events"][0]["kind"] == "queued"
    assert "claim_token" not in body["data"]["job"]


def test_other_users_job_is_404_for_every_route_and_unchanged(
    alice: ApiUser, bob: ApiUser, dataset_id: int, runtime: Runtime
) -> None:
    job_id = alice.post("/api/jobs", json=job_request(dataset_id)).get_json()["data"]["job"]["id"]
    for response in (
        bob.get(f"/api/jobs/{job_id}"),
        bob.get(f"/api/jobs/{job_id}?since_step=0"),
        bob.get(f"/api/jobs/{job_id}/metrics.csv"),
        bob.post(f"/api/jobs/{job_id}/cancel"),
    ):
        assert response.status_code == 404
        assert response.get_json()["error"] == "Job not found or access denied"
    assert bob.get("/api/jobs").get_json()["data"]["items"] == []
    assert alice.get(f"/api/jobs/{job_id}").get_json()["data"]["job"]["status"] == "queued"
    with runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == 0


@pytest.mark.parametrize("bad", ["not-a-uuid", "1", "%00", "00000000-0000-0000-0000-000000000000"])
def test_bad_or_unknown_ids_are_404(alice: ApiUser, bad: str) -> None:
    assert alice.get(f"/api/jobs/{bad}").status_code == 404
    assert alice.post(f"/api/jobs/{bad}/cancel").status_code == 404


@pytest.mark.parametrize(
    "query", ["max_points=3", "max_points=x", "since_step=-5", "since_step=1.5", "format=csv", "format=ROWS"]
)
def test_bad_detail_parameters_are_400(alice: ApiUser, dataset_id: int, query: str) -> None:
    job_id = alice.post("/api/jobs", json=job_request(dataset_id)).get_json()["data"]["job"]["id"]
    assert alice.get(f"/api/jobs/{job_id}?{query}").status_code == 400


def test_cancel_records_event_notification_and_final_cost(alice: ApiUser, runtime: Runtime) -> None:
    with runtime.transaction() as session:
        dataset = make_dataset(session, alice.id)
        job = make_job(session, alice.id, dataset.id, status=JobStatus.RUNNING, started_at=utcnow())
        job_id = str(job.id)
    response = alice.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 200
    assert set(response.get_json()) == {"success", "message", "data"}  # the specification's answer
    assert response.get_json()["message"] == "Job cancelled successfully"
    job_data = response.get_json()["data"]
    assert job_data["status"] == "cancelled"
    assert job_data["final_cost"] is not None
    assert job_data["cancel_requested_at"] is not None
    detail = alice.get(f"/api/jobs/{job_id}").get_json()["data"]
    assert detail["cost_records"][0]["cost_type"] == "training_compute"
    assert detail["events"][0]["to_status"] == "cancelled"
    notifications = alice.get("/api/notifications").get_json()["data"]["items"]
    assert notifications[0]["type"] == "job_cancelled"

    again = alice.post(f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 400
    assert again.get_json()["error"] == "Job cannot be cancelled"
    assert "already cancelled" in again.get_json()["details"]
    assert len(alice.get(f"/api/jobs/{job_id}").get_json()["data"]["cost_records"]) == 1


def test_cross_site_cookie_post_is_refused(
    client: FlaskClient, user: dict[str, Any], runtime: Runtime
) -> None:
    with runtime.transaction() as session:
        dataset = make_dataset(session, user["id"])
        job_id = str(make_job(session, user["id"], dataset.id).id)
    assert login(client, user["email"]).status_code == 302
    response = client.post(f"/api/jobs/{job_id}/cancel", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert client.get(f"/api/jobs/{job_id}").get_json()["data"]["job"]["status"] == "queued"
    same_site = client.post(f"/api/jobs/{job_id}/cancel")
    assert same_site.status_code == 200


def test_token_requests_need_no_csrf_token(alice: ApiUser, dataset_id: int) -> None:
    response = alice.client.post(
        "/api/jobs",
        json=job_request(dataset_id),
        headers={**alice.headers, "Origin": "https://elsewhere.example"},
    )
    assert response.status_code == 201


def test_unknown_api_paths_are_json_404(alice: ApiUser) -> None:
    for response in (alice.get("/api/nope"), alice.post("/api/jobs/x/y/z"), alice.delete("/api/whatever")):
        assert response.status_code == 404
        assert response.is_json
        assert set(response.get_json()) == {"error", "details"}


def test_health_reports_reachability_without_configuration(client: FlaskClient, runtime: Runtime) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert response.get_json()["data"] == {"status": "ok", "database": "ok", "redis": "ok"}
    for secret in (
        runtime.settings.secret_key,
        runtime.settings.gpu_cluster_api_key,
        "postgresql",
        "redis://",
    ):
        assert secret not in text
