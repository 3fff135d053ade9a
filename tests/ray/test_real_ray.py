"""GPU_CLUSTER_BACKEND=ray against a real Ray head (2.60) the test starts in its own network namespace.

The tiny random Llama trains as a real Ray job (`python -m trainer --tiny`, spec via
PIPELINE_JOB_SPEC), reporting by signed callback to a local server on the host side of the veth and by
METRIC lines in the Ray job log, which the backend parses. A second job is cancelled while running
and must save its adapter. Needs root (ip netns), ray[default] and the trainer extra in this venv:
CI runs it in the trainer stage (`pytest -m ray tests/ray`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from jobs.cluster_types import ClusterJobStatus, JobStatusReport, SubmitRequest
from jobs.ray_backend import RayJobsBackend
from tests.ray.ray_head import RayHead, ray_head_in_namespace, sandbox_problem
from tests.trainer.receiver import SECRET_KEY, Receiver, running_receiver
from trainer.sample_data import sample_jsonl

pytest.importorskip("torch", reason="the trainer extra is not installed: pip install -e '.[trainer]'")
_problem = sandbox_problem()
pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(420),
    pytest.mark.skipif(_problem is not None, reason=f"no sandboxed Ray head: {_problem}"),
]

ROOT = Path(__file__).resolve().parents[2]
HYPERPARAMETERS = {"learning_rate": 2e-3, "batch_size": 8, "rank": 8, "alpha": 16, "dropout": 0.0}


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    with ray_head_in_namespace(tmp_path_factory.mktemp("ray")) as running:
        yield running


@pytest.fixture(scope="module")
def receiver(head: RayHead) -> Iterator[Receiver]:
    with running_receiver({"data.jsonl": sample_jsonl(400)}, host=head.host_ip) as server:
        yield server


@pytest.fixture(scope="module")
def backend(head: RayHead) -> Iterator[RayJobsBackend]:
    ray = RayJobsBackend(
        head.address,
        secret_key=SECRET_KEY,
        entrypoint=f"{sys.executable} -m trainer --tiny",
        request_gpus=False,  # a CPU-only head: a GPU request would wait 15 min, then fail
        env_vars={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TRAINER_THREADS": "1"},
    )
    yield ray
    ray.close()


def submit(backend: RayJobsBackend, receiver: Receiver, job_id: str, **hyperparameters: object) -> None:
    backend.submit(
        SubmitRequest(
            job_id=job_id,
            dataset_url=f"{receiver.base_url}/storage/datasets/data.jsonl?expires=1&signature=abc",
            hyperparameters={**HYPERPARAMETERS, **hyperparameters},
            gpu_config={"type": "A100-80GB", "count": 1},
            callback_url=receiver.callback_url,
        )
    )


def wait_for(backend: RayJobsBackend, job_id: str, done: object, timeout: float = 240.0) -> JobStatusReport:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = backend.status(job_id, since_step=0)
        if done(report):  # type: ignore[operator]
            return report
        time.sleep(1.0)
    raise AssertionError(f"{job_id} did not get there in {timeout:g} s: {report}")


def test_tiny_job_trains_to_completed_on_ray(backend: RayJobsBackend, receiver: Receiver) -> None:
    submit(backend, receiver, "ray-learn", epochs=1, eval_every=10)
    submit(backend, receiver, "ray-learn", epochs=1, eval_every=10)  # a repeat: accepted, not run twice

    report = wait_for(backend, "ray-learn", lambda r: r.is_terminal)
    assert report.status is ClusterJobStatus.COMPLETED, report.error
    steps = [point.step for point in report.metrics_history]
    assert steps == list(range(1, 46)), steps  # 360 training rows / batch 8, from the Ray job log
    validation = [p.validation_loss for p in report.metrics_history if p.validation_loss is not None]
    assert validation[-1] < validation[0]
    assert report.artifact is not None
    assert Path(urlsplit(report.artifact.uri).path).name == "adapter_model.safetensors"
    assert report.artifact.checksum is not None
    assert report.artifact.checksum.startswith("sha256:")
    # The signed callbacks arrived too, every step once, and none was refused.
    assert receiver.rejected == []
    payloads = [payload for payload in receiver.payloads if payload["job_id"] == "ray-learn"]
    callback_steps = sorted(point["step"] for payload in payloads for point in payload["metrics_history"])
    assert callback_steps == list(range(1, 46))
    assert payloads[-1]["status"] == "completed"


def test_running_job_is_cancelled_and_saves_its_adapter(backend: RayJobsBackend, receiver: Receiver) -> None:
    submit(backend, receiver, "ray-cancel", epochs=20, eval_every=50)
    wait_for(backend, "ray-cancel", lambda r: (r.current_step or 0) >= 5)
    backend.cancel("ray-cancel")
    report = wait_for(backend, "ray-cancel", lambda r: r.is_terminal, timeout=60)
    assert report.status is ClusterJobStatus.CANCELLED
    assert report.artifact is not None, "the trainer saves its adapter on SIGTERM"
    assert Path(urlsplit(report.artifact.uri).path).exists()
    assert (report.current_step or 0) < 900
