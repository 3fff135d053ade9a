"""ClusterClient's mapping of HTTP answers to typed results and errors, its bounded retries and its
requests, with an in-process MockTransport (the real-HTTP cases are in tests/integration)."""

from __future__ import annotations

import email.utils
import json
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
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
from jobs.cluster import ClusterClient
from jobs.cluster_answers import retry_after_seconds as _retry_after_seconds
from jobs.cluster_polling import StatusSweep

KEY = "unit-key-canary-31415926"
REQUEST = SubmitRequest(
    "job-1", "https://web/storage/d.jsonl?signature=s", {"epochs": 1}, {"type": "H100", "count": 1}
)


class Recorder:
    """A MockTransport handler that answers from a list and records what it was sent."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer


def client_for(recorder: Recorder, **options) -> ClusterClient:
    options.setdefault("backoff_seconds", 0.0)
    return ClusterClient("http://cluster.test/", KEY, transport=httpx.MockTransport(recorder), **options)


def test_submit_sends_the_contract_body_with_the_bearer_key():
    recorder = Recorder(httpx.Response(201, json={"external_job_id": "ext-9", "status": "queued"}))
    result = client_for(recorder).submit(REQUEST)
    assert result.external_job_id == "ext-9"
    assert result.status is ClusterJobStatus.QUEUED
    sent = recorder.requests[0]
    assert (sent.method, sent.url.path) == ("POST", "/training/submit")
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert json.loads(sent.content) == {
        "job_id": "job-1",
        "dataset_url": REQUEST.dataset_url,
        "hyperparameters": {"epochs": 1},
        "gpu_config": {"type": "H100", "count": 1},
    }


def test_status_sends_since_step_and_quotes_the_id():
    recorder = Recorder(httpx.Response(200, json={"status": "running"}))
    client = client_for(recorder)
    client.status("a/b?c", since_step=12)
    client.status("plain")
    assert recorder.requests[0].url.raw_path == b"/training/status/a%2Fb%3Fc?since_step=12"
    assert recorder.requests[1].url.raw_path == b"/training/status/plain"


def test_cancel_accepts_an_empty_body():
    recorder = Recorder(httpx.Response(202))
    result = client_for(recorder).cancel("ext-1")
    assert result.external_job_id == "ext-1"
    assert result.status is None
    assert recorder.requests[0].method == "POST"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (401, ClusterConfigError),
        (403, ClusterConfigError),
        (404, ClusterNotFound),
        (400, ClusterRejected),
        (422, ClusterRejected),
        (409, ClusterRejected),
    ],
)
def test_permanent_answers_raise_their_kind_at_once(code, error):
    recorder = Recorder(httpx.Response(code, json={"error": "nope", "details": "field x is wrong"}))
    with pytest.raises(error) as raised:
        client_for(recorder).submit(REQUEST)
    assert raised.value.status_code == code
    assert len(recorder.requests) == 1, "a permanent answer is not retried"
    if error is ClusterRejected:
        assert raised.value.cluster_message == "nope; field x is wrong"


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504])
def test_transient_answers_are_retried_then_raised(code):
    recorder = Recorder(httpx.Response(code))
    with pytest.raises(ClusterTransient) as raised:
        client_for(recorder, max_retries=2).status("x")
    assert type(raised.value) is ClusterTransient
    assert raised.value.status_code == code
    assert len(recorder.requests) == 3


def test_a_transient_failure_that_clears_returns_the_result():
    recorder = Recorder(httpx.Response(503), httpx.Response(200, json={"status": "queued"}))
    assert client_for(recorder).status("x").status is ClusterJobStatus.QUEUED
    assert len(recorder.requests) == 2


def test_connection_errors_and_timeouts_are_transient():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    with pytest.raises(ClusterTransient, match="could not be reached"):
        client_for(Recorder(refuse)).status("x")
    with pytest.raises(ClusterTransient, match="timed out"):
        client_for(Recorder(hang)).status("x")


def test_a_body_that_is_not_json_is_malformed_after_retries():
    recorder = Recorder(httpx.Response(200, text="<html>oops</html>"))
    with pytest.raises(ClusterMalformed):
        client_for(recorder, max_retries=1).status("x")
    assert len(recorder.requests) == 2


def test_backoff_grows_and_retry_after_sets_a_floor():
    recorder = Recorder(
        httpx.Response(429, headers={"Retry-After": "0.3"}), httpx.Response(200, json={"status": "running"})
    )
    start = time.monotonic()
    client_for(recorder, backoff_seconds=0.01).status("x")
    assert time.monotonic() - start >= 0.3, "Retry-After is a floor under the backoff"
    recorder = Recorder(
        httpx.Response(503), httpx.Response(503), httpx.Response(200, json={"status": "running"})
    )
    start = time.monotonic()
    client_for(recorder, backoff_seconds=0.1).status("x")
    assert time.monotonic() - start >= 0.3, "backoff 0.1 s then 0.2 s"


def test_retry_after_accepts_seconds_and_http_dates():
    assert _retry_after_seconds("7") == 7.0
    assert _retry_after_seconds("0.5") == 0.5
    assert _retry_after_seconds("-3") is None
    assert _retry_after_seconds(None) is None
    assert _retry_after_seconds("soon") is None
    future = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    waited = _retry_after_seconds(future)
    assert waited is not None
    assert 25 < waited <= 30


def test_a_bad_base_url_is_a_configuration_error():
    with pytest.raises(ClusterConfigError):
        ClusterClient("cluster.test:8800", KEY)


def test_the_key_stays_out_of_reprs():
    client = client_for(Recorder(httpx.Response(200, json={})))
    assert KEY not in repr(client)
    assert KEY not in repr(client._http.headers)
    assert "signature" not in repr(REQUEST)
    sweep = StatusSweep(
        "http://cluster.test", {"Authorization": f"Bearer {KEY}"}, KEY, 8, 1.0, 1.0, 0, 0.0, 1.0
    )
    assert KEY not in repr(sweep)


def test_poll_many_with_no_jobs_makes_no_request():
    recorder = Recorder(httpx.Response(200, json={"status": "running"}))
    assert client_for(recorder).poll_many({}) == {}
    assert recorder.requests == []


def test_make_backend_builds_the_http_client_and_refuses_unknown_backends():
    from types import SimpleNamespace

    from jobs.cluster import make_backend

    settings = SimpleNamespace(
        gpu_cluster_backend="http", gpu_cluster_api_url="http://cluster.test", gpu_cluster_api_key=KEY
    )
    backend = make_backend(settings, max_retries=0)
    assert isinstance(backend, ClusterClient)
    assert backend.max_retries == 0
    backend.close()
    with pytest.raises(ClusterConfigError, match="GPU_CLUSTER_BACKEND"):
        make_backend(SimpleNamespace(**{**vars(settings), "gpu_cluster_backend": "slurm"}))


def test_every_client_shares_one_tls_context_that_still_verifies() -> None:
    from jobs.cluster import tls_context

    assert tls_context() is tls_context()  # built once: the CA bundle costs ~0.13 s to load
    assert tls_context().verify_mode is ssl.CERT_REQUIRED
    assert tls_context().check_hostname
