"""`health_checks` through POST /api/jobs: stored complete, shown in the job object, and every bad
threshold refused with a 400 naming the field (real PostgreSQL + Redis)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from api.runtime import Runtime
from catalog.health_checks import default_health_config
from db.models import TrainingJob
from tests.integration.api_fixtures import ApiUser, job_request, upload


@pytest.fixture
def dataset_id(alice: ApiUser) -> int:
    return int(upload(alice).get_json()["data"]["id"])


def _job_count(runtime: Runtime) -> int:
    with runtime.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(TrainingJob)) or 0)


def test_a_job_stores_every_check_with_the_changes_given(alice: ApiUser, dataset_id: int) -> None:
    body = job_request(dataset_id, health_checks={"exploding_loss": {"factor": 4, "action": "stop"}})
    response = alice.post("/api/jobs", json=body)
    assert response.status_code == 201, response.get_json()
    job = response.get_json()["data"]["job"]
    expected = default_health_config()
    expected["exploding_loss"].update(factor=4.0, action="stop")
    assert job["health_checks"] == expected
    detail = alice.get(f"/api/jobs/{job['id']}").get_json()["data"]
    assert detail["job"]["health_checks"] == expected


def test_no_health_checks_means_every_default(alice: ApiUser, dataset_id: int) -> None:
    job = alice.post("/api/jobs", json=job_request(dataset_id)).get_json()["data"]["job"]
    assert job["health_checks"] == default_health_config()


@pytest.mark.parametrize(
    ("health_checks", "field"),
    [
        ({"exploding_loss": {"factor": 0.5}}, "health_checks.exploding_loss.factor"),
        ({"exploding_loss": {"factor": "3"}}, "health_checks.exploding_loss.factor"),
        ({"exploding_loss": {"steps": 2.5}}, "health_checks.exploding_loss.steps"),
        ({"gpu_idle": {"utilization": 101}}, "health_checks.gpu_idle.utilization"),
        ({"gpu_idle": {"steps": True}}, "health_checks.gpu_idle.steps"),
        ({"overfitting": {"action": "explode"}}, "health_checks.overfitting.action"),
        ({"overfitting": {"patience": 3}}, "health_checks.overfitting.patience"),
        ({"nope": {}}, "health_checks.nope"),
        ({"loss_plateau": 3}, "health_checks.loss_plateau"),
        ([1, 2], "health_checks"),
    ],
)
def test_bad_thresholds_are_a_400_naming_the_field(
    alice: ApiUser, dataset_id: int, runtime: Runtime, health_checks: Any, field: str
) -> None:
    for path in ("/api/jobs", "/api/jobs/estimate"):
        response = alice.post(path, json=job_request(dataset_id, health_checks=health_checks))
        assert response.status_code == 400, response.get_json()
        assert field in response.get_json()["details"]
    assert _job_count(runtime) == 0


def test_non_finite_threshold_is_refused(alice: ApiUser, dataset_id: int, runtime: Runtime) -> None:
    raw = f'{{"dataset_id": {dataset_id}, "health_checks": {{"exploding_loss": {{"factor": NaN}}}}}}'
    response = alice.post("/api/jobs", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert "health_checks.exploding_loss.factor" in response.get_json()["details"]
    assert _job_count(runtime) == 0
