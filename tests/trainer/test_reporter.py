"""StatusReporter: batching, retries, refusals and the stdout fallback (no torch needed).

The endpoint is an httpx MockTransport here so failures can be scripted exactly; the real HTTP path
is covered by test_trainer_process.py against a real server.
"""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import httpx
import pytest

from contract.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, derive_job_secret, signature_problem
from trainer.reporter import StatusReporter

pytestmark = pytest.mark.trainer


SECRET = derive_job_secret("k" * 32, "job-1")
URL = "http://pipeline.test/api/training-callback"


class Endpoint:
    """Records verified payloads; answers each POST with the next scripted status (then 200)."""

    def __init__(self, *codes: int) -> None:
        self.codes = list(codes)
        self.payloads: list[dict[str, Any]] = []
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls += 1
            code = self.codes.pop(0) if self.codes else 200
            headers = request.headers
            problem = signature_problem(
                SECRET, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER), request.content
            )
            assert problem is None
            if code == 200:
                self.payloads.append(json.loads(request.content))
        return httpx.Response(code, json={})

    def steps(self) -> list[int]:
        return [point["step"] for payload in self.payloads for point in payload["metrics_history"]]


def reporter(endpoint: Endpoint, **options: Any) -> StatusReporter:
    options.setdefault("stdout", io.StringIO())
    return StatusReporter("job-1", URL, SECRET, transport=httpx.MockTransport(endpoint), **options)


def add_steps(target: StatusReporter, steps: range) -> None:
    for step in steps:
        target.add_point({"step": step, "training_loss": 1.0 / step}, epoch=1, total_steps=100)


def test_points_go_out_in_batches_of_at_most_n() -> None:
    endpoint = Endpoint()
    target = reporter(endpoint, flush_seconds=60, batch_points=10)
    add_steps(target, range(1, 26))
    assert target.finish("completed")
    assert endpoint.steps() == list(range(1, 26))
    assert max(len(payload["metrics_history"]) for payload in endpoint.payloads) <= 10
    assert endpoint.payloads[-1]["status"] == "completed"
    assert endpoint.payloads[-1]["progress"] == 100.0


def test_transient_failures_are_retried_and_nothing_is_duplicated() -> None:
    endpoint = Endpoint(503, 502, 500)
    target = reporter(endpoint, flush_seconds=0.01)
    add_steps(target, range(1, 6))
    assert target.finish("completed")
    assert endpoint.steps() == [1, 2, 3, 4, 5]
    assert target.failed_posts >= 3
    assert target.delivered_points == 5


def test_a_refused_callback_is_not_retried_forever() -> None:
    endpoint = Endpoint(401, 401, 401, 401)
    target = reporter(endpoint, flush_seconds=60, final_deadline_seconds=5)
    add_steps(target, range(1, 4))
    target.finish("failed", error="boom")
    assert endpoint.calls <= 4
    assert target.delivered_points == 0


def test_an_unreachable_endpoint_gives_up_at_the_deadline() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    target = StatusReporter(
        "job-1", URL, SECRET, transport=httpx.MockTransport(down), flush_seconds=60,
        final_deadline_seconds=0.5, stdout=io.StringIO(),
    )  # fmt: skip
    add_steps(target, range(1, 3))
    assert target.finish("completed") is False


def test_validation_loss_persists_in_latest_metrics_between_evaluations() -> None:
    target = reporter(Endpoint(), flush_seconds=60)
    target.add_point({"step": 1, "training_loss": 2.0, "validation_loss": 1.5}, epoch=1, total_steps=4)
    target.add_point({"step": 2, "training_loss": 1.9, "validation_loss": None}, epoch=1, total_steps=4)
    snapshot = target.snapshot()
    assert snapshot["metrics"]["validation_loss"] == 1.5
    assert snapshot["metrics"]["training_loss"] == 1.9
    assert (snapshot["current_step"], snapshot["progress"], snapshot["status"]) == (2, 50.0, "running")
    target.finish("cancelled")


def test_without_a_callback_url_every_update_is_a_metric_line() -> None:
    out = io.StringIO()
    target = StatusReporter("job-1", None, None, stdout=out)
    add_steps(target, range(1, 3))
    assert target.finish("completed")
    lines = [json.loads(line.removeprefix("METRIC ")) for line in out.getvalue().splitlines()]
    assert [p["step"] for line in lines for p in line["metrics_history"]] == [1, 2]
    assert lines[-1]["status"] == "completed"
    assert set(lines[-1]) >= {
        "job_id", "status", "stage", "progress", "current_epoch", "total_epochs", "current_step", "total_steps",
        "metrics", "metrics_history", "error", "artifact", "started_at", "finished_at",
    }  # fmt: skip


def test_finish_refuses_a_non_terminal_status() -> None:
    target = reporter(Endpoint())
    with pytest.raises(ValueError, match="not a terminal status"):
        target.finish("running")
    target.finish("completed")
