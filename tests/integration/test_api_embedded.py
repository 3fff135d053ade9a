"""The API on the embedded default (SQLite, no Redis) and with Redis unreachable: same answers."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from api.runtime import Runtime
from app import create_app
from benchmarks.seed_metrics import copy_metric_points
from db.base import utcnow
from db.migrate import upgrade
from db.models import JobStatus, MetricPoint, TrainingJob
from services.metrics import metrics_payload
from settings import Settings
from tests.accounts import make_token, make_user
from tests.factories import make_dataset, make_job, store_points
from tests.integration.api_fixtures import GOOD_LINES, job_request, jsonl
from tests.ports import free_port


@pytest.fixture
def embedded(sqlite_settings: Settings) -> Iterator[tuple[Any, Runtime, dict[str, str]]]:
    sqlite_settings.data_dir.mkdir(parents=True, exist_ok=True)
    runtime = Runtime.create(sqlite_settings)
    upgrade(runtime.engine)
    make_user(runtime, "solo@example.com")
    headers = {"Authorization": f"Bearer {make_token(runtime, 'solo@example.com')}"}
    yield create_app(sqlite_settings, runtime=runtime).server.test_client(), runtime, headers
    runtime.engine.dispose()


def test_dataset_job_detail_and_cancel_on_sqlite(embedded: tuple[Any, Runtime, dict[str, str]]) -> None:
    client, runtime, headers = embedded
    upload = {"name": "local", "file": (io.BytesIO(jsonl(GOOD_LINES)), "d.jsonl")}
    dataset = client.post("/api/datasets", data=upload, headers=headers, content_type="multipart/form-data")
    assert dataset.status_code == 201
    created = client.post("/api/jobs", json=job_request(dataset.get_json()["data"]["id"]), headers=headers)
    assert created.status_code == 201
    job_id = created.get_json()["data"]["job"]["id"]
    with runtime.transaction() as session:
        store_points(
            session,
            (
                MetricPoint(job_id=uuid.UUID(job_id), step=step, training_loss=1.0 / step, timestamp=utcnow())
                for step in range(1, 1501)
            ),
        )
    rows = client.get(f"/api/jobs/{job_id}", headers=headers).get_json()["data"]["metrics"]
    assert (rows[0]["step"], rows[-1]["step"], rows[-1]["training_loss"]) == (1, 1500, 1.0 / 1500)
    assert len(rows) <= 1000  # one series with values: at most max_points rows
    query = "?format=columnar"
    metrics = client.get(f"/api/jobs/{job_id}{query}", headers=headers).get_json()["data"]["metrics"]
    assert metrics["total_points"] == 1500
    assert metrics["series"]["training_loss"]["step"][-1] == 1500
    assert len(metrics["series"]["training_loss"]["step"]) <= 1000
    cancelled = client.post(f"/api/jobs/{job_id}/cancel", headers=headers)
    assert (cancelled.status_code, cancelled.get_json()["data"]["status"]) == (200, "cancelled")
    assert client.get("/api/notifications", headers=headers).get_json()["data"]["unread_count"] == 1


def test_unreachable_redis_only_costs_the_cache(settings: Settings, runtime: Runtime) -> None:
    user_id = make_user(runtime, "cacheless@example.com")
    with runtime.transaction() as session:
        dataset = make_dataset(session, user_id)
        job_id = make_job(session, user_id, dataset.id, status=JobStatus.RUNNING).id
    copy_metric_points(runtime.engine, job_id, 5_000)
    dead = Runtime.create(settings.with_overrides(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    try:
        with dead.transaction() as session:
            job = session.get(TrainingJob, job_id)
            assert job is not None
            without = metrics_payload(session, job, cache=dead.redis)
            reference = metrics_payload(session, job, cache=None)
    finally:
        dead.engine.dispose()
    assert without == reference
    assert without["total_points"] == 5_000
