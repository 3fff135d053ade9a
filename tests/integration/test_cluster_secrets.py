"""The cluster API key never appears in a log line, an exception message, a traceback or a repr,
whatever goes wrong (a canary value searched for in everything the client produced)."""

from __future__ import annotations

import json
import logging
import traceback

import httpx
import pytest

from api.callbacks_api import CALLBACK_PATH
from contract.results import ClusterError, SubmitRequest
from contract.signing import callback_headers, derive_job_secret
from db.base import utcnow
from jobs.claims import Claim
from jobs.cluster import ClusterClient
from jobs.submit import submit_request as product_submit_request
from tests.cycle_harness import LONG_HYPERPARAMETERS, cycle, job, queue_jobs
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


def test_each_submit_carries_the_jobs_callback_secret_and_no_log_shows_it(
    cycle_settings, sessions, owner, sim, client, caplog
):
    """A cluster that speaks our contract gets, with the submit, what signs that job's callbacks
    (the per-job secret, never SECRET_KEY); nothing we log shows it."""
    caplog.set_level(logging.DEBUG)
    (job_id,) = queue_jobs(sessions, owner, hyperparameters=LONG_HYPERPARAMETERS)
    assert cycle(cycle_settings, sessions).submitted == 1
    secret = derive_job_secret(cycle_settings.secret_key, str(job_id))
    spec = sim.cluster.get(str(job(sessions, job_id).external_job_id)).spec
    assert spec.callback_secret == secret
    assert secret not in repr(spec)
    request = product_submit_request(cycle_settings, _claim(job_id))
    wire = request.as_json(with_secret=True)  # what the HTTP client sends
    assert wire["callback_secret"] == secret
    assert cycle_settings.secret_key not in json.dumps(wire)
    assert "callback_secret" not in request.as_json()  # what backends may write to disk
    assert secret not in repr(request)

    body = json.dumps({"job_id": str(job_id), "status": "running", "current_step": 1}).encode()
    headers = callback_headers(spec.callback_secret, None, body, job_id=str(job_id))
    answer = client.post(CALLBACK_PATH, data=body, headers={"Content-Type": "application/json", **headers})
    assert answer.status_code == 200  # the cluster can sign with what it received

    assert caplog.records
    assert secret not in caplog.text
    assert secret[:16] not in caplog.text


def _claim(job_id):
    return Claim(job_id, "token", "datasets/x.jsonl", {}, {"type": "A100-80GB", "count": 1}, utcnow(), False)
