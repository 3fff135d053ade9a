"""A base model per job, end to end (issue 13.1): chosen in `POST /api/jobs`, priced by its size,
sent to the cluster in the submit payload, and shown by the API and the monitor. Bad choices are a
400 that says why and store nothing. Real PostgreSQL, Redis and the simulated cluster over HTTP.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from flask_login import login_user
from sqlalchemy import func, select

from api.auth import SessionUser
from api.runtime import Runtime
from catalog.base_models import BASE_MODELS
from catalog.gpus import GPU_TYPES, GpuType
from db.base import utcnow
from db.models import TrainingJob, User
from jobs.cluster import ClusterClient
from pages.monitor.data import read_job
from pages.monitor.views import header_values
from tests.cycle_harness import CANARY, cycle, job
from tests.integration.api_fixtures import ApiUser, job_request, upload

pytestmark = pytest.mark.postgres

GEMMA = "google/gemma-2-2b"


class RecordingTransport(httpx.HTTPTransport):
    """The real network, with every request body to the cluster kept for the test to read."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.content:
            self.bodies.append((request.url.path, json.loads(request.content)))
        return super().handle_request(request)


def _job_count(runtime: Runtime) -> int:
    with runtime.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(TrainingJob)) or 0)


@pytest.fixture
def dataset_id(alice: ApiUser) -> int:
    return int(upload(alice).get_json()["data"]["id"])


def test_a_jobs_base_model_reaches_the_cluster_the_api_and_the_monitor(
    alice: ApiUser, dataset_id: int, runtime: Runtime, app: Any, cycle_settings, sessions, sim
) -> None:
    created = alice.post("/api/jobs", json=job_request(dataset_id, base_model=GEMMA))
    assert created.status_code == 201, created.get_json()
    job_id = created.get_json()["data"]["job"]["id"]
    assert created.get_json()["data"]["job"]["base_model"] == GEMMA

    transport = RecordingTransport()
    client = ClusterClient(cycle_settings.gpu_cluster_api_url, CANARY, transport=transport)
    cycle(cycle_settings, sessions, client=client)
    submits = [body for path, body in transport.bodies if path == "/training/submit"]
    assert [body["job_id"] for body in submits] == [job_id]
    assert submits[0]["base_model"] == GEMMA
    external = job(sessions, uuid.UUID(job_id)).external_job_id
    assert external is not None
    on_cluster = sim.cluster.get(external)
    assert on_cluster is not None
    assert on_cluster.spec.base_model == GEMMA  # the simulator accepted it and runs at its speed

    detail = alice.get(f"/api/jobs/{job_id}").get_json()["data"]["job"]
    assert detail["base_model"] == GEMMA
    listed = alice.get("/api/jobs").get_json()["data"]["items"]
    assert [item["base_model"] for item in listed if item["id"] == job_id] == [GEMMA]

    with app.server.test_request_context("/_dash-update-component", method="POST"):
        with runtime.transaction() as session:
            account = session.get(User, alice.id)
            assert account is not None
            login_user(SessionUser(account))
        snapshot = read_job(job_id, with_dataset=True)
        assert snapshot is not None
        header = header_values(snapshot, utcnow())
    assert "Gemma 2 2B" in str(header["subtitle"])
    assert GEMMA in str(header["config"])  # the Configuration tab's "Base model" row


def test_an_unknown_base_model_is_a_400_naming_the_allowed_ids(
    alice: ApiUser, dataset_id: int, runtime: Runtime
) -> None:
    for path in ("/api/jobs", "/api/jobs/estimate"):
        response = alice.post(path, json=job_request(dataset_id, base_model="gpt2"))
        assert response.status_code == 400, response.get_json()
        body = response.get_json()
        message = body["details"]["base_model"]
        assert "unknown base model 'gpt2'" in message
        assert all(hub_id in message for hub_id in BASE_MODELS)
    assert _job_count(runtime) == 0


def test_a_base_model_the_gpu_cannot_hold_is_a_400_saying_why(
    alice: ApiUser, dataset_id: int, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(GPU_TYPES, "T4", GpuType("T4", Decimal("0.50"), 16, False, 600.0))
    body = job_request(
        dataset_id, base_model="mistralai/Mistral-7B-v0.1", gpu_config={"type": "T4", "count": 4}
    )
    response = alice.post("/api/jobs", json=body)
    assert response.status_code == 400
    message = response.get_json()["details"]["base_model"]
    assert message.startswith("Mistral 7B v0.1 needs 19.4 GB per GPU for LoRA training; a T4 has 16 GB")
    assert _job_count(runtime) == 0
    smaller = alice.post("/api/jobs", json={**body, "base_model": "Qwen/Qwen2.5-0.5B"})
    assert smaller.status_code == 201, smaller.get_json()


def test_the_estimate_depends_on_the_models_size(alice: ApiUser, dataset_id: int) -> None:
    def estimate(base_model: str) -> dict[str, Any]:
        response = alice.post("/api/jobs/estimate", json=job_request(dataset_id, base_model=base_model))
        assert response.status_code == 200, response.get_json()
        return response.get_json()["data"]

    small, large = estimate("Qwen/Qwen2.5-0.5B"), estimate("meta-llama/Llama-3.1-8B")
    assert (small["base_model"], large["base_model"]) == ("Qwen/Qwen2.5-0.5B", "meta-llama/Llama-3.1-8B")
    assert small["total_steps"] == large["total_steps"]
    assert small["estimated_seconds"] < large["estimated_seconds"]
    assert Decimal(small["estimated_total_cost"]) < Decimal(large["estimated_total_cost"])
