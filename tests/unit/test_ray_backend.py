"""The Ray backend against a fake Ray Jobs server over real HTTP (tests/fake_ray.py).

Covers what the processor relies on: submit payload (spec env, per-job secret, GPUs), idempotent
duplicate submits, status mapping, METRIC log parsing into metrics_history, stop, typed errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.results import (
    ClusterConfigError,
    ClusterJobStatus,
    ClusterMalformed,
    ClusterNotFound,
    ClusterRejected,
    ClusterTransient,
    SubmitRequest,
)
from contract.signing import derive_job_secret
from jobs.cluster import make_backend
from jobs.ray_backend import RayJobsBackend, parse_metric_lines
from settings import Settings
from tests.fake_ray import FakeRayJobs

SECRET = "unit-test-secret-key-0123456789"
GPU = {"type": "A100-80GB", "count": 2}


@pytest.fixture
def fake() -> Iterator[FakeRayJobs]:
    server = FakeRayJobs()
    yield server
    server.close()


@pytest.fixture
def ray(fake: FakeRayJobs) -> Iterator[RayJobsBackend]:
    backend = RayJobsBackend(fake.url, secret_key=SECRET, backoff_seconds=0.01)
    yield backend
    backend.close()


def request(job_id: str = "job-1", gpu: dict[str, object] | None = None) -> SubmitRequest:
    return SubmitRequest(
        job_id=job_id,
        dataset_url="http://127.0.0.1:1/storage/d.jsonl?signature=abc",
        hyperparameters={"learning_rate": 2e-3, "batch_size": 8, "epochs": 1, "rank": 8, "alpha": 16},
        gpu_config=GPU if gpu is None else gpu,
        callback_url="http://127.0.0.1:8050/api/training-callback",
        base_model="Qwen/Qwen2.5-0.5B",
    )


def metric(payload: dict[str, object]) -> str:
    return "METRIC " + json.dumps(payload)


def test_make_backend_builds_ray_from_settings(fake: FakeRayJobs) -> None:
    settings = Settings(gpu_cluster_backend="ray", ray_address=fake.url, secret_key=SECRET)
    backend = make_backend(settings)
    assert isinstance(backend, RayJobsBackend)
    assert backend.address == fake.url
    backend.close()


def test_settings_read_and_validate_ray_address() -> None:
    env = {"RAY_ADDRESS": "http://ray-head:8265/", "GPU_CLUSTER_BACKEND": "ray"}
    assert Settings.from_env(env, require_secrets=False).ray_address == "http://ray-head:8265"
    with pytest.raises(ValueError, match="RAY_ADDRESS"):
        Settings.from_env({"RAY_ADDRESS": "ray-head:8265"}, require_secrets=False)
    with pytest.raises(ValueError, match="RAY_REQUEST_GPUS"):
        Settings.from_env({"RAY_REQUEST_GPUS": "maybe"}, require_secrets=False)
    with pytest.raises(ValueError, match="RAY_ENTRYPOINT"):
        Settings.from_env({"RAY_ENTRYPOINT": "  "}, require_secrets=False)


def test_entrypoint_and_gpu_request_come_from_settings(fake: FakeRayJobs, tmp_path: Path) -> None:
    env = {
        "RAY_ADDRESS": fake.url,
        "GPU_CLUSTER_BACKEND": "ray",
        "RAY_ENTRYPOINT": "/opt/venv/bin/python -m trainer",
        "RAY_REQUEST_GPUS": "false",
        "DATA_DIR": str(tmp_path),
    }
    backend = make_backend(Settings.from_env(env, require_secrets=False))
    backend.submit(request())
    assert fake.jobs["job-1"].payload["entrypoint"] == "/opt/venv/bin/python -m trainer"
    assert "entrypoint_num_gpus" not in fake.jobs["job-1"].payload
    backend.close()


def test_the_cycle_uses_the_configured_backend(fake: FakeRayJobs) -> None:
    from jobs.cycle import make_cluster_client

    settings = Settings(gpu_cluster_backend="ray", ray_address=fake.url, secret_key=SECRET)
    backend = make_cluster_client(settings)
    assert isinstance(backend, RayJobsBackend)
    backend.close()


def test_bad_address_is_a_config_error() -> None:
    with pytest.raises(ClusterConfigError, match="RAY_ADDRESS"):
        RayJobsBackend("ray://head:10001", secret_key=SECRET)


def test_submit_sends_spec_secret_gpus_and_grace(fake: FakeRayJobs, ray: RayJobsBackend) -> None:
    result = ray.submit(request())
    assert result.external_job_id == "job-1"
    assert result.status is ClusterJobStatus.QUEUED
    payload = fake.jobs["job-1"].payload
    assert payload["submission_id"] == "job-1"
    assert payload["entrypoint"] == "python -m trainer"
    assert payload["entrypoint_num_gpus"] == 2
    env = payload["runtime_env"]["env_vars"]
    assert json.loads(env["PIPELINE_JOB_SPEC"]) == request().as_json()
    assert json.loads(env["PIPELINE_JOB_SPEC"])["base_model"] == "Qwen/Qwen2.5-0.5B"  # for the trainer
    assert env["PIPELINE_CALLBACK_SECRET"] == derive_job_secret(SECRET, "job-1")
    assert SECRET not in json.dumps(payload)  # only the per-job secret travels
    assert int(env["RAY_JOB_STOP_WAIT_TIME_S"]) >= 30


def test_gpus_not_requested_when_disabled_or_absent(fake: FakeRayJobs) -> None:
    cpu = RayJobsBackend(fake.url, secret_key=SECRET, request_gpus=False)
    cpu.submit(request("cpu"))
    cpu.submit(request("none", gpu={}))
    assert "entrypoint_num_gpus" not in fake.jobs["cpu"].payload
    assert "entrypoint_num_gpus" not in fake.jobs["none"].payload
    cpu.close()


def test_duplicate_submit_is_accepted_and_looked_up(fake: FakeRayJobs, ray: RayJobsBackend) -> None:
    ray.submit(request())
    fake.set_status("job-1", "RUNNING")
    again = ray.submit(request())
    assert again.external_job_id == "job-1"
    assert again.status is ClusterJobStatus.RUNNING
    assert "already" in again.notes[0]
    assert len(fake.jobs) == 1


@pytest.mark.parametrize(
    ("ray_status", "ours"),
    [
        ("PENDING", ClusterJobStatus.QUEUED),
        ("RUNNING", ClusterJobStatus.RUNNING),
        ("SUCCEEDED", ClusterJobStatus.COMPLETED),
        ("FAILED", ClusterJobStatus.FAILED),
        ("STOPPED", ClusterJobStatus.CANCELLED),
    ],
)
def test_status_mapping(
    fake: FakeRayJobs, ray: RayJobsBackend, ray_status: str, ours: ClusterJobStatus
) -> None:
    ray.submit(request())
    fake.set_status("job-1", ray_status, "Job entrypoint command failed with exit code 1")
    report = ray.status("job-1")
    assert report.status is ours
    assert report.started_at is not None
    if ours is ClusterJobStatus.QUEUED:
        assert report.stage == "initializing"
    if ours.is_terminal:
        assert report.finished_at is not None
    if ours is ClusterJobStatus.FAILED:
        assert report.error is not None
        assert "exit code 1" in report.error


def test_metric_lines_become_history_merged_and_after_since_step(
    fake: FakeRayJobs, ray: RayJobsBackend
) -> None:
    ray.submit(request())
    fake.set_status("job-1", "RUNNING")
    points = [{"step": s, "epoch": 1, "training_loss": 6.0 - s, "learning_rate": 1e-3} for s in (1, 2, 3)]
    fake.append_log(
        "job-1",
        "loading model...",
        metric({"status": "running", "stage": "training", "metrics_history": points[:2], "current_step": 2}),
        "METRIC {not json",
        metric({"status": "running", "metrics_history": [{"step": 2, "validation_loss": 4.5}]}),
        metric(
            {
                "status": "running",
                "stage": "training",
                "progress": 30.0,
                "current_step": 3,
                "total_steps": 10,
                "metrics": {"training_loss": 3.0},
                "metrics_history": points[2:],
            }
        ),
    )
    report = ray.status("job-1", since_step=1)
    assert [p.step for p in report.metrics_history] == [2, 3]
    assert report.metrics_history[0]["training_loss"] == 4.0
    assert report.metrics_history[0]["validation_loss"] == 4.5  # merged from a later line
    assert report.current_step == 3
    assert report.total_steps == 10
    assert report.progress == 30.0
    assert report.metrics["training_loss"] == 3.0
    assert report.history_included


def test_trainer_error_and_ray_message_both_kept(fake: FakeRayJobs, ray: RayJobsBackend) -> None:
    ray.submit(request())
    fake.append_log("job-1", metric({"status": "failed", "error": "dataset download refused (HTTP 403)"}))
    fake.set_status("job-1", "FAILED", "Job entrypoint command failed with exit code 1")
    report = ray.status("job-1")
    assert report.status is ClusterJobStatus.FAILED
    assert report.error is not None
    assert "HTTP 403" in report.error
    assert "exit code 1" in report.error


def test_ray_status_wins_over_the_last_trainer_line(fake: FakeRayJobs, ray: RayJobsBackend) -> None:
    ray.submit(request())
    fake.append_log("job-1", metric({"status": "running", "stage": "training"}))
    fake.set_status("job-1", "FAILED", "node died")
    assert ray.status("job-1").status is ClusterJobStatus.FAILED


def test_log_fallback_off_means_no_history(fake: FakeRayJobs) -> None:
    backend = RayJobsBackend(fake.url, secret_key=SECRET, log_metrics=False)
    backend.submit(request())
    fake.set_status("job-1", "RUNNING")
    report = backend.status("job-1", since_step=0)
    assert not report.history_included
    assert report.metrics_history == ()
    assert ("GET", "/api/jobs/job-1/logs") not in fake.requests
    backend.close()


def test_cancel_stops_the_job(fake: FakeRayJobs, ray: RayJobsBackend) -> None:
    ray.submit(request())
    fake.set_status("job-1", "RUNNING")
    assert ray.cancel("job-1").external_job_id == "job-1"
    assert fake.jobs["job-1"].status == "STOPPED"
    ray.cancel("job-1")  # stopping a stopped job is not an error
    assert fake.jobs["job-1"].stop_requests == 2
    assert ray.status("job-1").status is ClusterJobStatus.CANCELLED


def test_unknown_job_is_not_found(ray: RayJobsBackend) -> None:
    with pytest.raises(ClusterNotFound, match="does not exist"):
        ray.status("nope")
    with pytest.raises(ClusterNotFound):
        ray.cancel("nope")


def test_server_errors_are_retried_then_transient(fake: FakeRayJobs, ray: RayJobsBackend) -> None:
    ray.submit(request())
    fake.fail_next(503)
    assert ray.status("job-1").status is ClusterJobStatus.QUEUED  # one retry succeeded
    for _ in range(3):
        fake.fail_next(500, b"Traceback...\nRuntimeError: GCS unavailable\n")
    with pytest.raises(ClusterTransient, match="GCS unavailable"):
        ray.status("job-1")


def test_rejection_and_auth_errors_are_typed(fake: FakeRayJobs, ray: RayJobsBackend) -> None:
    fake.fail_next(400, b"Traceback...\nTypeError: bad runtime_env\n")
    with pytest.raises(ClusterRejected, match="bad runtime_env"):
        ray.submit(request())
    fake.fail_next(403, b"Forbidden")
    with pytest.raises(ClusterConfigError):
        ray.status("job-1")


def test_unknown_ray_status_is_malformed(fake: FakeRayJobs, ray: RayJobsBackend) -> None:
    ray.submit(request())
    fake.jobs["job-1"].status = "EXPLODED"
    with pytest.raises(ClusterMalformed):
        ray.status("job-1")


def test_unreachable_ray_is_transient() -> None:
    from tests.ports import free_port

    backend = RayJobsBackend(f"http://127.0.0.1:{free_port()}", secret_key=SECRET, max_retries=0)
    with pytest.raises(ClusterTransient, match="could not be reached"):
        backend.submit(request())
    backend.close()


def test_poll_many_isolates_failures(fake: FakeRayJobs, ray: RayJobsBackend) -> None:
    ray.submit(request("a"))
    ray.submit(request("b"))
    fake.set_status("b", "SUCCEEDED")
    outcomes = ray.poll_many({"a": None, "b": 0, "missing": None})
    assert outcomes["a"].status is ClusterJobStatus.QUEUED  # type: ignore[union-attr]
    assert outcomes["b"].status is ClusterJobStatus.COMPLETED  # type: ignore[union-attr]
    assert isinstance(outcomes["missing"], ClusterNotFound)


def test_parse_metric_lines_skips_noise() -> None:
    log = 'x\nMETRIC {"step": 1}\n(pid=1) METRIC {"status": "running"}\nMETRIC [1]\nMETRIC oops\n'
    assert parse_metric_lines(log) == [{"step": 1}, {"status": "running"}]
