"""The cluster API key never appears in a log line, an exception message, a traceback or a repr,
whatever goes wrong (a canary value searched for in everything the client produced)."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

from contract.results import ClusterError, SubmitRequest
from jobs.cluster import ClusterClient
from tests.ports import free_port
from tests.simulated_cluster import CLUSTER_KEY, GPU, submit_request


def test_the_key_is_in_no_log_error_traceback_or_repr(simulator, datasets, caplog):
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every request at DEBUG
    produced: list[str] = []
    client = ClusterClient(simulator.url, CLUSTER_KEY, backoff_seconds=0.01, read_timeout=0.3)
    produced.append(repr(client))

    def attempt(call) -> None:
        try:
            result = call()
            produced.append(repr(result))
        except ClusterError as exc:
            produced.extend([str(exc), repr(exc), "".join(traceback.format_exception(exc))])

    request = submit_request(datasets, "job-canary")
    produced.append(repr(request))
    attempt(lambda: client.submit(request))
    external_id = client.submit(request).external_job_id
    attempt(lambda: client.status(external_id, since_step=0))
    for status in (401, 403, 404, 422, 429, 500, 503):
        simulator.set_faults(fail_next=3, error_status=status, retry_after=0)
        attempt(lambda: client.status(external_id))
    simulator.set_faults(fail_next=0, latency_ms=600)  # timeouts
    attempt(lambda: client.status(external_id))
    attempt(lambda: client.poll_many({external_id: 0, "sim-nope": None}))
    simulator.set_faults(latency_ms=0, malformed_rate=1.0)
    attempt(lambda: client.status(external_id))
    attempt(lambda: client.submit(SubmitRequest("job-x", "http://127.0.0.1:1/d", {}, {"type": "TPU"})))
    client.close()
    with ClusterClient(f"http://127.0.0.1:{free_port()}", CLUSTER_KEY, max_retries=0) as dead:
        attempt(lambda: dead.status("sim-x"))
        produced.append(repr(dead))
    with ClusterClient(simulator.url, "wrong-key", max_retries=0) as wrong:
        attempt(lambda: wrong.status("sim-x"))

    assert len(produced) > 15
    assert any("HTTP 401" in text for text in produced)
    assert any("timed out" in text for text in produced)
    assert caplog.records, "the client's HTTP stack should have logged something to search"
    everything = "\n".join(produced) + "\n" + caplog.text
    assert CLUSTER_KEY not in everything
    assert CLUSTER_KEY[-8:] not in everything  # no partial leak either


def test_a_cluster_that_echoes_the_key_back_is_scrubbed():
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"error": f"bad token {request.headers['Authorization']}"})

    transport = httpx.MockTransport(echo)
    with (
        ClusterClient("http://cluster", CLUSTER_KEY, transport=transport) as client,
        pytest.raises(ClusterError) as raised,
    ):
        client.submit(SubmitRequest("job", "http://x/d", {}, GPU))
    assert CLUSTER_KEY not in str(raised.value)
    assert "***" in str(raised.value)
