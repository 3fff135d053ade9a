"""Metric history through the API on PostgreSQL: downsampling keeps extremes and the latest point,
`since_step` increments have no gap or duplicate (in the specification's rows, the default, and the
columnar form), the CSV holds every point, and the Redis-cached payload gives exactly what a
computation from the rollups gives."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from sqlalchemy import delete, text, update

from api.runtime import Runtime
from benchmarks.seed_metrics import copy_metric_points
from contract.results import MetricsPoint
from db.base import utcnow
from db.metric_rollups import rebuild_rollups, rollup_series
from db.metric_store import insert_points, point_rows
from db.models import JobStatus, MetricPoint, MetricRollup, TrainingJob
from services.downsample import series_names
from services.metrics import metrics_payload
from tests.accounts import make_user
from tests.factories import make_dataset, make_job
from tests.integration.api_fixtures import ApiUser


@pytest.fixture
def job_id(alice: ApiUser, runtime: Runtime) -> uuid.UUID:
    with runtime.transaction() as session:
        dataset = make_dataset(session, alice.id)
        return make_job(session, alice.id, dataset.id, status=JobStatus.RUNNING).id


def _columnar(user: ApiUser, job_id: uuid.UUID, query: str = "") -> dict[str, Any]:
    """The detail's metrics in the compact columnar form (`?format=columnar`)."""
    metrics: dict[str, Any] = user.get(f"/api/jobs/{job_id}?format=columnar&{query}").get_json()["data"][
        "metrics"
    ]
    return metrics


def _set(runtime: Runtime, job_id: uuid.UUID, step: int, **values: float) -> None:
    """Change a stored point (points are insert-only in the product: the job's rollups are rebuilt)."""
    with runtime.transaction() as session:
        session.execute(
            update(MetricPoint).where(MetricPoint.job_id == job_id, MetricPoint.step == step).values(**values)
        )
        session.execute(delete(MetricRollup).where(MetricRollup.job_id == job_id))
        rebuild_rollups(session.connection(), rollup_series(), job_id=job_id)


def test_downsampled_history_keeps_global_min_spike_and_last_point(
    alice: ApiUser, runtime: Runtime, job_id: uuid.UUID
) -> None:
    copy_metric_points(runtime.engine, job_id, 30_000)
    _set(runtime, job_id, 12_345, training_loss=-1.0, gradient_norm=99.0)
    _set(runtime, job_id, 30_000, training_loss=0.123456)
    metrics = alice.get(f"/api/jobs/{job_id}?format=columnar").get_json()["data"]["metrics"]
    assert metrics["total_points"] == 30_000
    assert metrics["last_step"] == 30_000
    assert metrics["downsampled"] is True
    loss = metrics["series"]["training_loss"]
    assert (12_345, -1.0) in zip(loss["step"], loss["value"], strict=True)
    assert (loss["step"][-1], loss["value"][-1]) == (30_000, 0.123456)
    assert loss["step"][0] == 1
    grad = metrics["series"]["gradient_norm"]
    assert (12_345, 99.0) in zip(grad["step"], grad["value"], strict=True)
    for name in series_names():
        series = metrics["series"][name]
        assert 0 < len(series["step"]) <= 1000
        assert series["step"] == sorted(set(series["step"]))
    small = alice.get(f"/api/jobs/{job_id}?format=columnar&max_points=50").get_json()["data"]["metrics"]
    assert all(len(small["series"][name]["step"]) <= 50 for name in series_names())
    assert -1.0 in small["series"]["training_loss"]["value"]


ROW_KEYS = {"step", "epoch", "timestamp", *series_names()}


def test_rows_keep_the_same_extremes_first_and_last_point_in_step_order(
    alice: ApiUser, runtime: Runtime, job_id: uuid.UUID
) -> None:
    copy_metric_points(runtime.engine, job_id, 30_000)
    _set(runtime, job_id, 12_345, training_loss=-1.0, gradient_norm=99.0)
    _set(runtime, job_id, 30_000, training_loss=0.123456)
    data = alice.get(f"/api/jobs/{job_id}").get_json()["data"]
    rows, summary = data["metrics"], data["metrics_summary"]
    assert summary == {"total_points": 30_000, "last_step": 30_000, "downsampled": True, "max_points": 1000}
    assert all(set(row) == ROW_KEYS for row in rows)
    steps = [row["step"] for row in rows]
    assert steps == sorted(set(steps))  # ascending, no duplicate
    assert (steps[0], steps[-1]) == (1, 30_000)
    spike = next(row for row in rows if row["step"] == 12_345)
    assert (spike["training_loss"], spike["gradient_norm"]) == (-1.0, 99.0)
    assert rows[-1]["training_loss"] == 0.123456
    assert rows[0]["timestamp"].endswith("+00:00")
    assert isinstance(rows[0]["epoch"], float)
    # Every step a series kept is a row, and nothing else: the same points as the columnar form.
    columnar = alice.get(f"/api/jobs/{job_id}?format=columnar").get_json()["data"]["metrics"]
    assert set(steps) == {step for series in columnar["series"].values() for step in series["step"]}
    small = alice.get(f"/api/jobs/{job_id}?max_points=50").get_json()["data"]["metrics"]
    assert -1.0 in [row["training_loss"] for row in small]
    assert len(small) <= 50 * len(series_names())


def test_rows_since_step_increments_have_no_gap_or_duplicate(
    alice: ApiUser, runtime: Runtime, job_id: uuid.UUID
) -> None:
    seen: list[int] = []
    cursor: int | None = None
    for first, count in ((1, 300), (301, 1), (302, 1_698)):
        copy_metric_points(runtime.engine, job_id, count, first_step=first)
        params = "max_points=10000" + ("" if cursor is None else f"&since_step={cursor}")
        data = alice.get(f"/api/jobs/{job_id}?{params}").get_json()["data"]
        seen += [row["step"] for row in data["metrics"]]
        cursor = data["metrics_summary"]["last_step"]
    again = alice.get(f"/api/jobs/{job_id}?since_step={cursor}").get_json()["data"]
    assert (again["metrics"], again["metrics_summary"]["last_step"]) == ([], None)
    assert seen == list(range(1, 2_000))


def test_since_step_increments_have_no_gap_or_duplicate(
    alice: ApiUser, runtime: Runtime, job_id: uuid.UUID
) -> None:
    seen: list[int] = []
    cursor: int | None = None
    for first in (1, 301, 302, 2_000):
        count = {1: 300, 301: 1, 302: 1_698, 2_000: 500}[first]
        copy_metric_points(runtime.engine, job_id, count, first_step=first)
        params = "format=columnar&max_points=10000" + ("" if cursor is None else f"&since_step={cursor}")
        metrics = alice.get(f"/api/jobs/{job_id}?{params}").get_json()["data"]["metrics"]
        seen += metrics["series"]["training_loss"]["step"]
        cursor = metrics["last_step"]
    nothing_new = _columnar(alice, job_id, f"since_step={cursor}")
    assert nothing_new["total_points"] == 0
    assert nothing_new["last_step"] is None
    assert seen == list(range(1, 2_500))


@pytest.mark.parametrize("form", ["rows", "columnar"])
def test_the_metrics_route_answers_the_details_metrics_with_the_job_alone(
    alice: ApiUser, bob: ApiUser, runtime: Runtime, job_id: uuid.UUID, form: str
) -> None:
    copy_metric_points(runtime.engine, job_id, 3_000)
    for query in (f"format={form}&max_points=100", f"format={form}&since_step=2950"):
        detail = alice.get(f"/api/jobs/{job_id}?{query}").get_json()["data"]
        answer = alice.get(f"/api/jobs/{job_id}/metrics?{query}")
        assert answer.status_code == 200
        light = answer.get_json()["data"]
        assert light["metrics"] == detail["metrics"]
        assert light.get("metrics_summary") == detail.get("metrics_summary")
        assert set(light) == ({"job", "metrics", "metrics_summary"} if form == "rows" else {"job", "metrics"})
        assert light["job"] == {k: v for k, v in detail["job"].items() if k not in ("dataset", "artifact")}
    # another user's job, a bad query: the detail's answers, and nothing stored changes
    assert bob.get(f"/api/jobs/{job_id}/metrics").status_code == 404
    bad = alice.get(f"/api/jobs/{job_id}/metrics?format=csv")
    assert bad.status_code == 400
    assert bad.get_json()["details"] == {"format": "must be one of rows, columnar"}
    assert alice.get(f"/api/jobs/{job_id}/metrics?since_step=x").status_code == 400
    assert _columnar(alice, job_id)["total_points"] == 3_000


def test_csv_streams_every_point(alice: ApiUser, runtime: Runtime, job_id: uuid.UUID) -> None:
    copy_metric_points(runtime.engine, job_id, 12_001)
    response = alice.get(f"/api/jobs/{job_id}/metrics.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["step", "timestamp", "epoch", *series_names()]
    assert [int(row[0]) for row in rows[1:]] == list(range(1, 12_002))
    assert rows[50][4] != ""  # validation loss every 50 steps
    assert rows[51][4] == ""


def _payload(runtime: Runtime, job_id: uuid.UUID, cache: Any) -> dict[str, Any]:
    with runtime.transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        return dict(metrics_payload(session, job, cache=cache))


def test_cached_payload_equals_computed_as_the_job_grows(runtime: Runtime, job_id: uuid.UUID) -> None:
    assert runtime.redis is not None
    step = 1
    for count in (5_000, 1, 700, 9_000, 3, 40_000):
        copy_metric_points(runtime.engine, job_id, count, first_step=step)
        step += count
        cached = _payload(runtime, job_id, runtime.redis)
        assert _payload(runtime, job_id, runtime.redis) == cached == _payload(runtime, job_id, None)
        assert cached["last_step"] == step - 1
    assert runtime.redis.keys("pipeline:metrics-payload:*")


def test_late_point_changes_the_cached_payload(runtime: Runtime, job_id: uuid.UUID) -> None:
    copy_metric_points(runtime.engine, job_id, 5_000)
    with runtime.transaction() as session:
        session.execute(text("DELETE FROM lora_metrics_points WHERE step = 2990"))
        session.execute(delete(MetricRollup).where(MetricRollup.job_id == job_id))
        rebuild_rollups(session.connection(), rollup_series(), job_id=job_id, last_step=5_000)
    before = _payload(runtime, job_id, runtime.redis)
    copy_metric_points(runtime.engine, job_id, 1, first_step=2990)  # arrives out of order
    after = _payload(runtime, job_id, runtime.redis)
    assert (before["total_points"], after["total_points"]) == (4_999, 5_000)
    assert after == _payload(runtime, job_id, None)


def test_broken_cache_entry_is_ignored(runtime: Runtime, job_id: uuid.UUID) -> None:
    assert runtime.redis is not None
    copy_metric_points(runtime.engine, job_id, 3_000)
    _payload(runtime, job_id, runtime.redis)
    for key in runtime.redis.keys("pipeline:metrics-payload*"):
        runtime.redis.set(key, b"{not json")
    assert _payload(runtime, job_id, runtime.redis) == _payload(runtime, job_id, None)


def test_embedded_sqlite_gives_the_same_shape(sqlite_runtime: Runtime) -> None:

    user_id = make_user(sqlite_runtime, "solo@example.com")
    with sqlite_runtime.transaction() as session:
        dataset = make_dataset(session, user_id)
        job = make_job(session, user_id, dataset.id, status=JobStatus.RUNNING, started_at=utcnow())
        points = [MetricsPoint(step, None, None, training_loss=10.0 - step / 1000) for step in range(1, 3001)]
        insert_points(session, point_rows(job.id, points, default_time=utcnow()))
        payload = metrics_payload(session, job, max_points=100)
        increment = metrics_payload(session, job, since_step=2990)
    loss = payload["series"]["training_loss"]
    assert len(loss["step"]) <= 100
    assert (loss["step"][-1], loss["value"][-1]) == (3000, 7.0)
    assert increment["series"]["training_loss"]["step"] == list(range(2991, 3001))


def test_sql_summary_equals_python_fold_including_ties(runtime: Runtime, job_id: uuid.UUID) -> None:
    from dataclasses import asdict

    from services.metrics import load_metric_rows
    from services.metrics_buckets import BucketSummary
    from services.metrics_sql import summarize

    copy_metric_points(runtime.engine, job_id, 20_000)
    with runtime.transaction() as session:  # whole-percent GPU utilisation: many ties per bucket
        session.execute(text("UPDATE lora_metrics_points SET gpu_utilization = round(gpu_utilization)"))
        from_sql = summarize(session, job_id, 64, 19_000)
        by_python = BucketSummary(width=64, upto_step=0)
        for row in load_metric_rows(session, job_id):
            if row[0] <= 19_000:
                by_python.add_row(row)
    assert asdict(from_sql) == asdict(by_python)


def test_far_behind_since_step_is_bucketed_not_dumped(
    alice: ApiUser, runtime: Runtime, job_id: uuid.UUID
) -> None:
    copy_metric_points(runtime.engine, job_id, 30_000)
    _set(runtime, job_id, 4_000, training_loss=-9.0)  # before the cursor: must not appear
    _set(runtime, job_id, 20_000, training_loss=-2.0)
    metrics = alice.get(f"/api/jobs/{job_id}?format=columnar&since_step=5000").get_json()["data"]["metrics"]
    assert metrics["total_points"] == 25_000
    assert metrics["last_step"] == 30_000
    loss = metrics["series"]["training_loss"]
    assert len(loss["step"]) <= 1000
    assert min(loss["step"]) > 5_000
    assert loss["step"][-1] == 30_000
    assert min(loss["value"]) == -2.0
    assert _columnar(alice, job_id, "since_step=0")["total_points"] == 30_000
