"""jobs/local_backend.py without torch: a stand-in "trainer" writes metrics.jsonl like the real one,
so submit, status, the died-without-a-result case, cancel and unknown jobs are checked in every CI run."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from contract.results import ClusterJobStatus, ClusterNotFound, SubmitRequest
from contract.signing import derive_job_secret
from jobs.local_backend import LocalBackend

SECRET = "unit-secret-key-0123456789abcdef"

# Called as `<fake> -m trainer --spec S --output-dir D --tiny`; FAKE_MODE says how it behaves.
FAKE_TRAINER = textwrap.dedent(
    """\
    import json, os, signal, sys, time
    args = sys.argv[1:]
    out = args[args.index("--output-dir") + 1]
    record = open(os.path.join(out, "metrics.jsonl"), "a")
    def line(**fields):
        record.write(json.dumps({"status": "running", "metrics_history": [], **fields}) + "\\n")
        record.flush()
    mode = os.environ["FAKE_MODE"]
    assert os.environ["PIPELINE_CALLBACK_SECRET"] == os.environ["EXPECTED_SECRET"]
    def on_term(*_):
        line(status="cancelled", stage="cancelled")
        sys.exit(143)
    signal.signal(signal.SIGTERM, on_term)
    for step in (1, 2, 3):
        line(current_step=step, total_steps=3,
             metrics_history=[{"step": step, "epoch": 1, "training_loss": 2.0 / step}])
    if mode == "complete":
        line(status="completed", current_step=3, total_steps=3,
             artifact={"uri": "file:///a", "size_bytes": 1, "checksum": "sha256:00"})
    elif mode == "crash":
        sys.exit(3)
    elif mode == "hang":
        time.sleep(30)
    """
)


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalBackend:
    script = tmp_path / "fake_python"
    script.write_text(f"#!{sys.executable}\n{FAKE_TRAINER}")
    script.chmod(0o755)
    return LocalBackend(SECRET, tmp_path / "runs", python=str(script))


def submit(backend: LocalBackend, monkeypatch: pytest.MonkeyPatch, mode: str) -> tuple[str, str]:
    job_id = str(uuid.uuid4())
    monkeypatch.setenv("FAKE_MODE", mode)
    monkeypatch.setenv("EXPECTED_SECRET", derive_job_secret(SECRET, job_id))
    request = SubmitRequest(
        job_id,
        "http://x/d.jsonl",
        {"epochs": 1},
        {"type": "cpu", "count": 1},
        "http://x/cb",
        base_model="Qwen/Qwen2.5-0.5B",
    )
    result = backend.submit(request)
    assert result.status is ClusterJobStatus.RUNNING
    assert backend.submit(request).external_job_id == result.external_job_id  # idempotent
    return job_id, result.external_job_id


def wait_for(backend: LocalBackend, external: str, status: ClusterJobStatus, since: int | None = 0):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        report = backend.status(external, since_step=since)
        if report.status is status:
            return report
        time.sleep(0.05)
    pytest.fail(f"{external} never reached {status}")


def test_a_completed_run_reports_every_point_and_the_artifact(backend, monkeypatch, tmp_path) -> None:
    job_id, external = submit(backend, monkeypatch, "complete")
    report = wait_for(backend, external, ClusterJobStatus.COMPLETED)
    assert [point.step for point in report.metrics_history] == [1, 2, 3]
    assert report.artifact is not None
    assert report.artifact.checksum == "sha256:00"
    assert [p.step for p in backend.status(external, since_step=2).metrics_history] == [3]
    spec = json.loads((tmp_path / "runs" / job_id / "job.json").read_text())
    assert spec["callback_url"] == "http://x/cb"
    assert spec["base_model"] == "Qwen/Qwen2.5-0.5B"  # what the trainer loads
    assert "callback_secret" not in spec  # the secret travels in the environment only


def test_a_trainer_that_dies_without_a_result_is_failed_with_its_exit_code(backend, monkeypatch) -> None:
    _, external = submit(backend, monkeypatch, "crash")
    report = wait_for(backend, external, ClusterJobStatus.FAILED)
    assert "exited with code 3" in (report.error or "")
    assert len(report.metrics_history) == 3


def test_cancel_sends_sigterm_and_the_trainer_reports_cancelled(backend, monkeypatch) -> None:
    _, external = submit(backend, monkeypatch, "hang")
    wait_for(backend, external, ClusterJobStatus.RUNNING)
    deadline = time.monotonic() + 10
    while len(backend.status(external, since_step=0).metrics_history) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    backend.cancel(external)
    assert wait_for(backend, external, ClusterJobStatus.CANCELLED).status is ClusterJobStatus.CANCELLED
    backend.cancel(external)  # cancelling a finished run is not an error


def test_unknown_runs_are_not_found_alone_in_a_poll(backend, monkeypatch) -> None:
    _, external = submit(backend, monkeypatch, "complete")
    for bad in ("local-" + str(uuid.uuid4()), "local-../etc", "local-"):
        with pytest.raises(ClusterNotFound):
            backend.status(bad)
    outcomes = backend.poll_many({external: 0, "local-nope": 0})
    assert isinstance(outcomes["local-nope"], ClusterNotFound)
    assert not isinstance(outcomes[external], Exception)
    assert os.path.isdir(backend._runs)
