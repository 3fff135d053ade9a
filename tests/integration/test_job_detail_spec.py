"""`GET /api/jobs/<id>` in the specification's shape and `POST .../cancel` as the specification answers it.

The detail: `job.dataset` as the spec's join selects it, `metrics` as point rows in step order, money
as exact JSON numbers; the columnar form behind `?format=columnar`. The cancel: `{success, message,
data}`, and the simulated cluster records the cancel before the answer comes back.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from api.runtime import Runtime
from db.base import utcnow
from db.models import CostRecord, JobEvent, JobStatus, MetricPoint
from jobs.cancels import pending_cluster_cancels
from jobs.cluster import ClusterClient
from services.downsample import series_names
from settings import Settings
from simulator.runner import SimulatorHandle
from tests.factories import make_dataset, make_job, store_points
from tests.integration.api_fixtures import ApiUser
from tests.ports import free_port
from tests.simulated_cluster import CLUSTER_KEY, DatasetServer, submit_request


@pytest.fixture
def settings(settings: Settings, simulator: SimulatorHandle) -> Settings:
    """The web app talks to the simulated cluster, as the processor does."""
    return settings.with_overrides(gpu_cluster_api_url=simulator.url, gpu_cluster_api_key=CLUSTER_KEY)


def _finished_job_with_points(runtime: Runtime, user_id: int) -> uuid.UUID:
    started = utcnow() - timedelta(hours=1)
    with runtime.transaction() as session:
        dataset = make_dataset(session, user_id)
        job = make_job(
            session,
            user_id,
            dataset.id,
            status=JobStatus.COMPLETED,
            started_at=started,
            completed_at=started + timedelta(minutes=30),
            current_cost=Decimal("0.1993"),
            final_cost=Decimal("0.1993"),
            estimated_total_cost=Decimal("1234567890.1235"),  # 14 significant digits: still exact
        )
        store_points(
            session,
            [
                MetricPoint(
                    job_id=job.id,
                    step=step,
                    epoch=step / 5,
                    timestamp=started + timedelta(seconds=step),
                    training_loss=2.0 / step,
                    validation_loss=1.5 if step == 5 else None,
                    learning_rate=2e-4,
                    gradient_norm=1.0,
                    throughput=5000.0,
                    gpu_utilization=90.0,
                )
                for step in range(1, 6)
            ],
        )
        session.add(
            CostRecord(
                user_id=user_id,
                job_id=job.id,
                cost_type="training_compute",
                amount=Decimal("0.1993"),
                details={},
                billing_period="2026-12-03",
            )
        )
        return job.id


def test_detail_reads_in_the_specs_shape(alice: ApiUser, runtime: Runtime) -> None:
    job_id = _finished_job_with_points(runtime, alice.id)
    response = alice.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    data = response.get_json()["data"]
    job = data["job"]
    assert set(job["dataset"]) == {"id", "name", "format", "total_training_pairs", "total_tokens"}
    assert job["dataset"]["id"] == job["dataset_id"]
    # Money: JSON numbers whose text is the stored decimal, nothing more (no float drift).
    assert job["final_cost"] == 0.1993
    assert '"final_cost":0.1993' in text.replace(" ", "")
    assert '"estimated_total_cost":1234567890.1235' in text.replace(" ", "")
    assert json.loads(text, parse_float=Decimal)["data"]["job"]["estimated_total_cost"] == Decimal(
        "1234567890.1235"
    )
    assert data["cost_records"][0]["amount"] == 0.1993
    assert data["cost_records"][0]["billing_period"] == "2026-12-03"
    # Metrics: one object per step, ascending, every field of the spec's row.
    rows = data["metrics"]
    assert [row["step"] for row in rows] == [1, 2, 3, 4, 5]
    assert set(rows[0]) == {"step", "epoch", "timestamp", *series_names()}
    assert {
        "training_loss",
        "validation_loss",
        "learning_rate",
        "gradient_norm",
        "throughput",
        "gpu_utilization",
    } <= set(rows[0])
    assert (rows[0]["training_loss"], rows[0]["validation_loss"], rows[4]["validation_loss"]) == (
        2.0,
        None,
        1.5,
    )
    assert (rows[4]["epoch"], rows[4]["gpu_utilization"]) == (1.0, 90.0)
    assert data["metrics_summary"] == {
        "total_points": 5,
        "last_step": 5,
        "downsampled": False,
        "max_points": 1000,
    }


def test_columnar_form_under_its_parameter(alice: ApiUser, runtime: Runtime) -> None:
    job_id = _finished_job_with_points(runtime, alice.id)
    data = alice.get(f"/api/jobs/{job_id}?format=columnar").get_json()["data"]
    assert "metrics_summary" not in data
    metrics = data["metrics"]
    assert (metrics["total_points"], metrics["last_step"], metrics["downsampled"]) == (5, 5, False)
    assert metrics["series"]["training_loss"] == {
        "step": [1, 2, 3, 4, 5],
        "value": [2.0, 1.0, 0.666667, 0.5, 0.4],
    }
    assert metrics["series"]["validation_loss"] == {"step": [5], "value": [1.5]}
    assert data["job"]["dataset"]["id"] == data["job"]["dataset_id"]  # the job is the same in both forms
    increment = alice.get(f"/api/jobs/{job_id}?format=columnar&since_step=4").get_json()["data"]["metrics"]
    assert increment["series"]["training_loss"]["step"] == [5]
    assert alice.get(f"/api/jobs/{job_id}?format=xml").get_json()["details"] == {
        "format": "must be one of rows, columnar"
    }


def _running_on_the_cluster(
    runtime: Runtime, user_id: int, cluster: ClusterClient, datasets: DatasetServer
) -> tuple[uuid.UUID, str]:
    with runtime.transaction() as session:
        dataset = make_dataset(session, user_id)
        job = make_job(session, user_id, dataset.id, status=JobStatus.RUNNING, started_at=utcnow())
        job_id = job.id
    external = cluster.submit(submit_request(datasets, str(job_id), rows=4000)).external_job_id
    with runtime.transaction() as session:
        session.get_one(type(job), job_id).external_job_id = external
    return job_id, external


def test_cancel_answers_like_the_spec_and_reaches_the_cluster_at_once(
    alice: ApiUser,
    runtime: Runtime,
    simulator: SimulatorHandle,
    cluster: ClusterClient,
    datasets: DatasetServer,
) -> None:
    job_id, external = _running_on_the_cluster(runtime, alice.id, cluster, datasets)
    response = alice.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"success", "message", "data"}
    assert (body["success"], body["message"]) == (True, "Job cancelled successfully")
    assert (body["data"]["id"], body["data"]["status"]) == (str(job_id), "cancelled")
    assert body["data"]["cancel_confirmed_at"] is not None
    # The cluster recorded the cancel before the answer: no processor cycle ran in this test.
    on_cluster = simulator.cluster.get(external)
    assert on_cluster is not None
    assert on_cluster.cancelled_at is not None
    assert cluster.status(external).status.value == "cancelled"
    with runtime.transaction() as session:
        kinds = session.scalars(select(JobEvent.kind).where(JobEvent.job_id == job_id)).all()
        assert "cluster_cancel_acknowledged" in kinds
        assert pending_cluster_cancels(session) == []  # nothing left for the processor to retry


def test_cancel_with_the_cluster_down_answers_fast_and_leaves_the_retry_to_the_processor(
    alice: ApiUser, runtime: Runtime, app: Any
) -> None:
    down = runtime.settings.with_overrides(gpu_cluster_api_url=f"http://127.0.0.1:{free_port()}")
    runtime.settings = down  # this app's cluster stops answering
    with runtime.transaction() as session:
        dataset = make_dataset(session, alice.id)
        job = make_job(
            session,
            alice.id,
            dataset.id,
            status=JobStatus.RUNNING,
            started_at=utcnow(),
            external_job_id="ext-down",
        )
        job_id = job.id
    began = time.monotonic()
    response = alice.post(f"/api/jobs/{job_id}/cancel")
    assert time.monotonic() - began < 4.0
    assert response.status_code == 200
    body = response.get_json()
    assert body["data"]["status"] == "cancelled"
    assert body["data"]["cancel_confirmed_at"] is None
    assert "keeps telling it" in body["message"]
    with runtime.transaction() as session:
        assert pending_cluster_cancels(session) == [(job_id, "ext-down")]
