"""`POST /api/training-callback` against real PostgreSQL and Redis: signatures, replays, bad bodies,
the one ingestion path shared with the poll cycle, and the real trainer's reporter as the sender."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from api.callbacks_api import CALLBACK_PATH, MAX_CALLBACK_BYTES
from api.runtime import Runtime
from app import create_app
from contract.signing import callback_headers, derive_job_secret
from db.base import utcnow
from db.migrate import upgrade
from db.models import CostRecord, JobEvent, JobStatus, MetricPoint, ModelArtifact, Notification, TrainingJob
from settings import Settings
from tests.accounts import SECRET, make_user
from tests.cycle_harness import (
    CANARY,
    LONG_HYPERPARAMETERS,
    all_terminal,
    count_rows,
    cycle,
    events,
    job,
    notifications,
    queue_jobs,
    statuses,
)
from tests.factories import make_dataset, make_job, synthetic_metrics
from trainer.reporter import StatusReporter


def running_job(sessions: sessionmaker[Session], owner: int, **overrides: Any) -> uuid.UUID:
    with sessions.begin() as session:
        dataset = make_dataset(session, owner)
        values: dict[str, Any] = {
            "status": JobStatus.RUNNING,
            "started_at": utcnow(),
            "external_job_id": f"ext-{uuid.uuid4().hex[:8]}",
            "total_steps": 40,
        }
        values.update(overrides)
        return make_job(session, owner, dataset.id, **values).id


def payload(job_id: uuid.UUID, steps: range, *, status: str = "running", **extra: Any) -> dict[str, Any]:
    history = [
        {"step": step, "epoch": 1, "timestamp": utcnow().isoformat(), **synthetic_metrics(step, 40)}
        for step in steps
    ]
    last = steps[-1] if len(steps) else 0
    body: dict[str, Any] = {
        "job_id": str(job_id),
        "status": status,
        "stage": "training",
        "progress": 100.0 * last / 40,
        "current_epoch": 1,
        "total_epochs": 3,
        "current_step": last,
        "total_steps": 40,
        "metrics": history[-1] if history else {},
        "metrics_history": history,
    }
    body.update(extra)
    return body


def signed_post(
    client: Any,
    job_id: uuid.UUID,
    body: dict[str, Any] | bytes,
    *,
    secret_for: uuid.UUID | None = None,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    secret = derive_job_secret(SECRET, str(secret_for or job_id))
    signed = headers if headers is not None else callback_headers(secret, timestamp, raw, job_id=str(job_id))
    return client.post(CALLBACK_PATH, data=raw, headers={"Content-Type": "application/json", **signed})


def stored_steps(sessions: sessionmaker[Session], job_id: uuid.UUID) -> list[int]:
    with sessions() as session:
        return list(
            session.scalars(
                select(MetricPoint.step).where(MetricPoint.job_id == job_id).order_by(MetricPoint.step)
            )
        )


def test_a_valid_callback_stores_points_and_progress(client, sessions, owner) -> None:
    job_id = running_job(sessions, owner)
    response = signed_post(client, job_id, payload(job_id, range(1, 11)))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"] == {"accepted": True, "status": "running", "points_stored": 10}
    assert stored_steps(sessions, job_id) == list(range(1, 11))
    stored = job(sessions, job_id)
    assert stored.current_step == 10
    assert stored.progress == pytest.approx(25.0)
    assert stored.current_metrics["training_loss"] == synthetic_metrics(10, 40)["training_loss"]

    # The same points again under a new signature (a trainer retry after a lost response): stored once.
    again = signed_post(client, job_id, payload(job_id, range(1, 13)), timestamp=int(time.time()) - 1)
    assert again.status_code == 200
    assert again.get_json()["data"]["points_stored"] == 2
    assert stored_steps(sessions, job_id) == list(range(1, 13))


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unsigned", "missing signature headers"),
        ("tampered", "signature does not match"),
        ("other_job_secret", "signature does not match"),
        ("stale", "timestamp outside the allowed window"),
        ("future", "timestamp outside the allowed window"),
        ("bad_job_header", "X-Pipeline-Job-Id must be a job id"),
        ("bad_version", "unsupported signature format"),
    ],
)
def test_unauthentic_callbacks_get_401_and_change_nothing(client, sessions, owner, case, reason) -> None:
    job_id = running_job(sessions, owner)
    other = running_job(sessions, owner)
    body = payload(job_id, range(1, 6), status="completed")
    raw = json.dumps(body).encode()
    secret = derive_job_secret(SECRET, str(job_id))
    if case == "unsigned":
        response = signed_post(client, job_id, raw, headers={"X-Pipeline-Job-Id": str(job_id)})
    elif case == "tampered":
        headers = callback_headers(secret, None, raw, job_id=str(job_id))
        response = signed_post(client, job_id, raw.replace(b'"completed"', b'"cancelled"'), headers=headers)
    elif case == "other_job_secret":
        response = signed_post(client, job_id, raw, secret_for=other)
    elif case == "stale":
        response = signed_post(client, job_id, raw, timestamp=int(time.time()) - 301)
    elif case == "future":
        response = signed_post(client, job_id, raw, timestamp=int(time.time()) + 400)
    elif case == "bad_job_header":
        headers = callback_headers(secret, None, raw, job_id="not-a-uuid")
        response = signed_post(client, job_id, raw, headers=headers)
    else:
        headers = callback_headers(secret, None, raw, job_id=str(job_id))
        headers["X-Pipeline-Signature"] = headers["X-Pipeline-Signature"].replace("v1=", "v0=")
        response = signed_post(client, job_id, raw, headers=headers)

    assert response.status_code == 401
    data = response.get_json()
    assert data["error"] == "Not authenticated"
    assert reason in data["details"]
    assert secret not in response.get_data(as_text=True)
    assert stored_steps(sessions, job_id) == []
    assert job(sessions, job_id).status == "running"
    assert events(sessions, job_id) == []


def test_a_replayed_callback_gets_409_and_changes_nothing(client, sessions, owner) -> None:
    job_id = running_job(sessions, owner)
    raw = json.dumps(payload(job_id, range(1, 4))).encode()
    headers = callback_headers(derive_job_secret(SECRET, str(job_id)), None, raw, job_id=str(job_id))
    assert signed_post(client, job_id, raw, headers=headers).status_code == 200
    with sessions.begin() as session:  # if the replay were ingested, this step would be rewritten
        session.execute(delete(MetricPoint).where(MetricPoint.job_id == job_id, MetricPoint.step == 3))
    replay = signed_post(client, job_id, raw, headers=headers)
    assert replay.status_code == 409
    spaced = {**headers, "X-Pipeline-Signature": headers["X-Pipeline-Signature"].replace("=", "= ", 1) + " "}
    assert signed_post(client, job_id, raw, headers=spaced).status_code == 409  # same digest, respelled
    assert replay.get_json()["error"] == "Replayed callback"
    assert stored_steps(sessions, job_id) == [1, 2]


def test_replays_are_refused_without_redis_too(sqlite_settings: Settings) -> None:
    """The embedded default (SQLite, no Redis) keeps seen signatures in the process."""
    sqlite_settings.data_dir.mkdir(parents=True, exist_ok=True)
    runtime = Runtime.create(sqlite_settings)
    upgrade(runtime.engine)
    client = create_app(sqlite_settings, runtime=runtime).server.test_client()
    owner = make_user(runtime, "solo@example.com")
    job_id = running_job(runtime.sessions, owner)
    raw = json.dumps(payload(job_id, range(1, 4))).encode()
    headers = callback_headers(derive_job_secret(SECRET, str(job_id)), None, raw, job_id=str(job_id))
    assert signed_post(client, job_id, raw, headers=headers).status_code == 200
    assert signed_post(client, job_id, raw, headers=headers).status_code == 409
    assert stored_steps(runtime.sessions, job_id) == [1, 2, 3]
    runtime.engine.dispose()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe garbage", "not valid JSON"),
        (b"[1, 2, 3]", "must be a JSON object"),
        (b'{"status": "exploded"}', "unknown job status"),
        (b'{"metrics_history": []}', "unknown job status"),
        (b'{"job_id": "00000000-0000-0000-0000-000000000000", "status": "running"}', "does not match"),
        (b'{"status": "running", "metrics": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not valid JSON"),
    ],
)
def test_malformed_bodies_get_400_and_change_nothing(client, sessions, owner, body, detail) -> None:
    job_id = running_job(sessions, owner)
    response = signed_post(client, job_id, body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "Malformed callback"
    assert detail in response.get_json()["details"]
    assert stored_steps(sessions, job_id) == []
    assert job(sessions, job_id).current_step == 0


def test_bad_values_inside_a_valid_body_are_dropped_and_recorded(client, sessions, owner) -> None:
    job_id = running_job(sessions, owner)
    body = payload(job_id, range(1, 4))
    body["metrics_history"][1]["training_loss"] = "NaN"
    body["metrics_history"].append({"step": -5, "training_loss": 1.0})
    response = signed_post(client, job_id, body)
    assert response.status_code == 200
    assert stored_steps(sessions, job_id) == [1, 2, 3]
    rejected = events(sessions, job_id, "metrics_rejected")
    assert [event.actor for event in rejected] == ["callback"]


def test_an_oversized_body_gets_413_and_changes_nothing(client, sessions, owner) -> None:
    job_id = running_job(sessions, owner)
    body = payload(job_id, range(1, 3), error="x" * MAX_CALLBACK_BYTES)
    response = signed_post(client, job_id, body)
    assert response.status_code == 413
    assert response.get_json()["error"] == "Request too large"
    assert stored_steps(sessions, job_id) == []


def test_an_unknown_job_gets_404(client) -> None:
    ghost = uuid.uuid4()
    response = signed_post(client, ghost, payload(ghost, range(1, 3)))
    assert response.status_code == 404
    assert response.get_json()["error"] == "Job not found"


def test_a_terminal_callback_finishes_the_job_once(client, sessions, owner) -> None:
    job_id = running_job(sessions, owner)
    artifact = {"uri": "file:///runs/x/adapter", "size_bytes": 1234, "checksum": "sha256:" + "ab" * 32}
    done = payload(job_id, range(1, 41), status="completed", artifact=artifact, finished_at=None)
    first = signed_post(client, job_id, done)
    assert first.status_code == 200
    assert first.get_json()["data"] == {
        "accepted": True,
        "status": "completed",
        "points_stored": 40,
        "finished": True,
    }
    second = signed_post(client, job_id, done, timestamp=int(time.time()) - 2)
    assert second.status_code == 200
    assert second.get_json()["data"] == {
        "accepted": True,
        "status": "completed",
        "points_stored": 0,
        "ignored": "the job has already finished",
    }
    stored = job(sessions, job_id)
    assert (stored.status, stored.current_step) == ("completed", 40)
    assert stored_steps(sessions, job_id) == list(range(1, 41))
    assert count_rows(sessions, CostRecord, job_id) == 1
    assert count_rows(sessions, ModelArtifact, job_id) == 1
    assert notifications(sessions, job_id) == ["job_completed"]
    assert [e.to_status for e in events(sessions, job_id, "status_changed")] == ["completed"]


def test_a_callback_for_a_cancelled_job_changes_nothing(client, sessions, owner) -> None:
    job_id = running_job(sessions, owner, status=JobStatus.CANCELLED, completed_at=utcnow())
    response = signed_post(client, job_id, payload(job_id, range(1, 5), status="completed"))
    assert response.status_code == 200
    assert response.get_json()["data"]["ignored"] == "the job has already finished"
    assert job(sessions, job_id).status == "cancelled"
    assert stored_steps(sessions, job_id) == []
    assert events(sessions, job_id) == []


def test_a_failed_report_records_the_trainers_error(client, sessions, owner) -> None:
    job_id = running_job(sessions, owner)
    body = payload(job_id, range(1, 3), status="failed", error="dataset download refused (HTTP 403)")
    assert signed_post(client, job_id, body).status_code == 200
    stored = job(sessions, job_id)
    assert stored.status == "failed"
    assert "HTTP 403" in (stored.error_message or "")


# ---- against the poll cycle ------------------------------------------------------------------


def test_callbacks_racing_the_poll_cycle_store_each_point_and_finish_once(
    app, cycle_settings, sessions, owner, sim
) -> None:
    """Callbacks re-post exactly what the simulator reports while cycles poll the same job."""
    [job_id] = queue_jobs(sessions, owner, hyperparameters=LONG_HYPERPARAMETERS, total_steps=480)
    cycle(cycle_settings, sessions)  # submit
    external = job(sessions, job_id).external_job_id
    assert external
    stop = threading.Event()
    posted: list[int] = []

    def echo_cluster_as_callbacks() -> None:
        client = app.server.test_client()
        with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {CANARY}"}) as cluster:
            while not stop.is_set():
                answer = cluster.get(f"/training/status/{external}", params={"since_step": 0})
                if answer.status_code == 200:
                    response = signed_post(client, job_id, answer.json())
                    posted.append(response.status_code)
                    if answer.json()["status"] == "completed":
                        return
                time.sleep(0.02)

    sender = threading.Thread(target=echo_cluster_as_callbacks)
    sender.start()
    try:
        deadline = time.monotonic() + 60
        while not all_terminal(sessions, [job_id])() and time.monotonic() < deadline:
            cycle(cycle_settings, sessions)
            time.sleep(0.02)
    finally:
        stop.set()
        sender.join(timeout=30)

    assert statuses(sessions, [job_id]) == ["completed"]
    # 409: an unchanged status re-posted within the same second carries the same signature.
    assert 200 in posted
    assert set(posted) <= {200, 409}
    done = job(sessions, job_id)
    assert stored_steps(sessions, job_id) == list(range(1, done.total_steps + 1))
    assert count_rows(sessions, CostRecord, job_id) == 1
    assert count_rows(sessions, ModelArtifact, job_id) == 1
    assert notifications(sessions, job_id) == ["job_started", "job_completed"]
    changes = [e.to_status for e in events(sessions, job_id, "status_changed")]
    assert changes.count("completed") == 1
    with sessions() as session:
        duplicates = session.scalar(
            select(func.count())
            .select_from(MetricPoint)
            .where(MetricPoint.job_id == job_id)
            .group_by(MetricPoint.step)
            .having(func.count() > 1)
        )
    assert duplicates is None


# ---- the real trainer's reporter -------------------------------------------------------------


@pytest.fixture
def live_server(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_trainers_reporter_delivers_to_the_real_endpoint(
    live_server, settings: Settings, sessions, owner
) -> None:
    job_id = running_job(sessions, owner, total_steps=120)
    reporter = StatusReporter(
        str(job_id),
        live_server + CALLBACK_PATH,
        derive_job_secret(settings.secret_key, str(job_id)),
        flush_seconds=0.05,
        stdout=open("/dev/null", "w"),  # noqa: SIM115  (closed with the process; the lines are not needed)
    )
    reporter.update(stage="training", total_steps=120, total_epochs=2)
    for step in range(1, 121):
        reporter.add_point(
            {"step": step, **synthetic_metrics(step, 120)}, epoch=1 + step // 61, total_steps=120
        )
        if step == 60:
            time.sleep(0.2)  # let a flush happen mid-run, as during real training
    artifact = {"uri": "file:///runs/adapter", "size_bytes": 99, "checksum": "sha256:" + "cd" * 32}
    assert reporter.finish("completed", artifact=artifact) is True
    assert reporter.delivered_points == 120
    assert reporter.failed_posts == 0

    assert stored_steps(sessions, job_id) == list(range(1, 121))
    stored = job(sessions, job_id)
    assert stored.status == "completed"
    assert stored.current_epoch == 2
    with sessions() as session:
        saved = session.scalars(select(ModelArtifact).where(ModelArtifact.job_id == job_id)).one()
        assert saved.checksum == artifact["checksum"]
        assert session.scalar(select(TrainingJob.artifact_id).where(TrainingJob.id == job_id)) == saved.id
    assert count_rows(sessions, JobEvent, job_id, kind="metrics_rejected") == 0


def test_absurd_cluster_times_are_clamped_for_billing_and_noted(client, sessions, owner) -> None:
    """Signed, so authentic, but the trainer's clock says 2000 to 2100: a century at $7.00/h was
    billed and announced. Billed now: from our submit (the claim) to now, with a note on the job."""
    submitted = utcnow() - timedelta(minutes=11)
    job_id = running_job(sessions, owner, claimed_at=submitted, started_at=submitted + timedelta(minutes=1))
    body = payload(
        job_id,
        range(1, 41),
        status="completed",
        started_at="2000-01-01T00:00:00Z",
        finished_at="2100-01-01T00:00:00Z",
    )
    assert signed_post(client, job_id, body).status_code == 200
    stored = job(sessions, job_id)
    assert stored.status == "completed"
    assert stored.started_at == submitted
    assert stored.completed_at is not None
    assert abs((stored.completed_at - utcnow()).total_seconds()) < 60
    assert Decimal("1.28") <= (stored.final_cost or 0) <= Decimal("1.40")  # $7.00/h x ~11 min
    (corrected,) = events(sessions, job_id, "cluster_times_corrected")
    assert corrected.details["started_at"]["reported"].startswith("2000-01-01")
    assert corrected.details["finished_at"]["reported"].startswith("2100-01-01")
    assert corrected.details["clock_skew_seconds"] == 300.0
    with sessions() as session:
        message = session.scalars(
            select(Notification.message).where(Notification.type == "job_completed")
        ).one()
    assert "Cost: $1.3" in message or "Cost: $1.2" in message


def test_a_finish_within_the_clock_skew_is_billed_as_reported(client, sessions, owner) -> None:
    job_id = running_job(sessions, owner, started_at=utcnow() - timedelta(minutes=30))
    finished = utcnow() + timedelta(seconds=60)  # the cluster's clock a minute ahead of ours
    body = payload(job_id, range(1, 41), status="completed", finished_at=finished.isoformat())
    assert signed_post(client, job_id, body).status_code == 200
    assert job(sessions, job_id).completed_at == finished
    assert events(sessions, job_id, "cluster_times_corrected") == []


def test_a_trainers_text_is_cleaned_before_it_is_stored(client, sessions, owner) -> None:
    """A NUL byte or a lone surrogate in a signed callback used to answer 500 (PostgreSQL refuses
    them); now the text is cleaned and noted, and the report counts."""
    job_id = running_job(sessions, owner)
    body = payload(
        job_id, range(1, 3), stage="eval\x00uating\ud800", status="failed", error="OOM\x00\x1b[31m"
    )
    assert signed_post(client, job_id, body).status_code == 200
    stored = job(sessions, job_id)
    assert (stored.status, stored.current_stage, stored.error_message) == ("failed", "evaluating", "OOM[31m")
    assert stored_steps(sessions, job_id) == [1, 2]
    notes = [n for e in events(sessions, job_id, "metrics_rejected") for n in e.details["notes"]]
    assert "stage: removed 2 unstorable characters" in notes
