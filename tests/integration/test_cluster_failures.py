"""Every failure kind of the contract, produced by a real simulated cluster on a real port, and what
the client turns it into: config (401/403), rejected (400/422), not found, transient (5xx, 429,
timeout, connection), malformed, and bad values dropped with notes."""

from __future__ import annotations

import time

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
from tests.ports import free_port
from tests.simulated_cluster import CLUSTER_KEY, GPU, submit_request


def requests_seen(simulator, route: str = "status") -> int:
    answer = httpx.get(f"{simulator.url}/_sim/stats", headers={"Authorization": f"Bearer {CLUSTER_KEY}"})
    return int(answer.json()["requests"].get(route, 0))


def finished(cluster: ClusterClient, external_id: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        report = cluster.status(external_id)
        if report.is_terminal or time.monotonic() > deadline:
            return report
        time.sleep(0.05)


def test_wrong_key_is_a_configuration_error(simulator, datasets):
    with ClusterClient(simulator.url, "not-the-key") as wrong, pytest.raises(ClusterConfigError) as raised:
        wrong.submit(submit_request(datasets, "job-401"))
    assert raised.value.status_code == 401
    assert "GPU_CLUSTER_API_KEY" in raised.value.message


def test_forbidden_is_a_configuration_error(cluster, simulator):
    simulator.set_faults(fail_next=1, error_status=403)
    with pytest.raises(ClusterConfigError) as raised:
        cluster.status("sim-anything")
    assert raised.value.status_code == 403


@pytest.mark.parametrize(
    ("gpu", "hyper", "status", "words"),
    [
        ({"type": "TPU-v5", "count": 1}, {}, 422, "gpu_config.type"),
        ({"type": "H100", "count": 64}, {}, 422, "gpu_config.count"),
        (GPU, {"batch_size": 0}, 422, "batch_size"),
        (GPU, {"learning_rate": "fast"}, 422, "learning_rate"),
    ],
)
def test_bad_submissions_are_permanent_rejections_with_the_clusters_message(
    cluster, datasets, gpu, hyper, status, words
):
    request = submit_request(datasets, "job-bad", gpu=gpu, **hyper)
    with pytest.raises(ClusterRejected) as raised:
        cluster.submit(request)
    assert raised.value.status_code == status
    assert words in raised.value.cluster_message
    assert words in str(raised.value)


def test_a_body_that_is_not_an_object_is_rejected_with_400(simulator):
    answer = httpx.post(
        f"{simulator.url}/training/submit",
        content=b"[1, 2",
        headers={"Authorization": f"Bearer {CLUSTER_KEY}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]


def test_server_errors_are_retried_then_reported_transient(cluster, simulator):
    simulator.set_faults(fail_next=10, error_status=503)
    before = requests_seen(simulator)
    with pytest.raises(ClusterTransient) as raised:
        cluster.status("sim-x")
    assert raised.value.status_code == 503
    assert type(raised.value) is ClusterTransient
    assert requests_seen(simulator) - before == cluster.max_retries + 1


def test_a_transient_error_that_clears_within_the_retries_is_invisible(cluster, simulator, datasets):
    external_id = cluster.submit(submit_request(datasets, "job-blip")).external_job_id
    simulator.set_faults(fail_next=2, error_status=500)
    assert cluster.status(external_id).external_job_id == external_id


def test_429_waits_for_retry_after(simulator, datasets):
    with ClusterClient(simulator.url, CLUSTER_KEY, backoff_seconds=0.01) as client:
        external_id = client.submit(submit_request(datasets, "job-429")).external_job_id
        simulator.set_faults(fail_next=1, error_status=429, retry_after=1)
        start = time.monotonic()
        report = client.status(external_id)
        waited = time.monotonic() - start
    assert report.external_job_id == external_id
    assert waited >= 1.0, "Retry-After: 1 was not honoured"


def test_429_with_a_long_retry_after_is_reported_not_waited_for(cluster, simulator):
    simulator.set_faults(fail_next=1, error_status=429, retry_after=120)
    start = time.monotonic()
    with pytest.raises(ClusterTransient) as raised:
        cluster.status("sim-x")
    assert time.monotonic() - start < 2
    assert raised.value.status_code == 429
    assert raised.value.retry_after == 120


def test_a_slow_cluster_times_out_as_transient(simulator):
    simulator.set_faults(latency_ms=800)
    with (
        ClusterClient(
            simulator.url, CLUSTER_KEY, read_timeout=0.2, max_retries=1, backoff_seconds=0.01
        ) as client,
        pytest.raises(ClusterTransient) as raised,
    ):
        client.status("sim-x")
    assert "timed out" in str(raised.value)


def test_an_unreachable_cluster_is_transient():
    with (
        ClusterClient(
            f"http://127.0.0.1:{free_port()}", CLUSTER_KEY, max_retries=1, backoff_seconds=0.01
        ) as client,
        pytest.raises(ClusterTransient) as raised,
    ):
        client.status("sim-x")
    assert "could not be reached" in str(raised.value)


@pytest.mark.parametrize("kind", ["not_json", "wrong_shape"])
def test_malformed_bodies_raise_malformed_which_is_transient(cluster, datasets, kind):
    external_id = cluster.submit(submit_request(datasets, f"job-{kind}", sim_malformed=kind)).external_job_id
    with pytest.raises(ClusterMalformed) as raised:
        cluster.status(external_id)
    assert isinstance(raised.value, ClusterTransient)  # "unknown", never "failed"


def test_cluster_wide_malformed_rate_garbles_answers(cluster, simulator):
    simulator.set_faults(malformed_rate=1.0, malformed_kind="not_json")
    with pytest.raises(ClusterMalformed):
        cluster.submit(SubmitRequest("job-m", "http://127.0.0.1:1/x", {}, GPU))


def test_impossible_values_are_dropped_with_notes_and_the_rest_kept(cluster, datasets):
    request = submit_request(datasets, "job-bad-values", sim_malformed="bad_values")
    external_id = cluster.submit(request).external_job_id
    deadline = time.monotonic() + 10
    while not (report := cluster.status(external_id, since_step=0)).metrics_history:
        assert time.monotonic() < deadline, "the job never reached training"
        time.sleep(0.05)  # wait until there are metrics and history to spoil

    assert report.progress is None
    assert report.current_step is None
    metrics = report.metrics
    assert metrics["training_loss"] is None  # NaN
    assert metrics["validation_loss"] is None  # Infinity
    assert metrics["learning_rate"] is None  # a string
    assert metrics["gradient_norm"] is None
    assert metrics["throughput"] is None
    assert metrics["gpu_utilization"] is None  # 140 %
    assert report.total_steps == 15  # the good values are kept
    assert report.metrics_history, "points keep their valid fields"
    assert all(p["training_loss"] is None and p["gpu_utilization"] is None for p in report.metrics_history)
    assert all(p["learning_rate"] is not None for p in report.metrics_history)
    notes = " | ".join(report.notes)
    for expected in ("progress", "metrics.training_loss", "non-finite", "non-numeric", "out-of-range"):
        assert expected in notes


def test_a_job_the_cluster_forgets_becomes_not_found(cluster, datasets):
    external_id = cluster.submit(submit_request(datasets, "job-forget", sim_forget_at=0.2)).external_job_id
    deadline = time.monotonic() + 10
    with pytest.raises(ClusterNotFound):  # noqa: PT012  (polls until the fault fires)
        while time.monotonic() < deadline:
            cluster.status(external_id)
            time.sleep(0.05)


def test_a_job_that_fails_on_the_cluster_reports_its_error(cluster, datasets):
    external_id = cluster.submit(submit_request(datasets, "job-oom", sim_fail_at=0.5)).external_job_id
    report = finished(cluster, external_id)
    assert report.status is ClusterJobStatus.FAILED
    assert report.error
    assert "out of memory" in report.error
    assert report.current_step is not None
    assert 0 < report.current_step < 15
    assert report.finished_at is not None
    assert report.artifact is None


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "HTTP 404"),
        (b'{"prompt": "a"}\nnot json at all\n', "line 2 is not JSON"),
        (b"[1, 2]\n", "line 1 is not a JSON object"),
        (b"\n\n", "empty"),
    ],
)
def test_a_dataset_the_cluster_cannot_use_fails_the_job_clearly(cluster, datasets, content, words):
    url = datasets.url("missing.jsonl") if content is None else datasets.add("bad.jsonl", content)
    external_id = cluster.submit(SubmitRequest("job-dataset", url, {}, GPU)).external_job_id
    report = finished(cluster, external_id)
    assert report.status is ClusterJobStatus.FAILED
    assert report.error
    assert words in report.error
    assert "signature" not in report.error  # the signed URL is not echoed


def test_poll_many_isolates_a_slow_and_a_failing_job(cluster, datasets):
    good = [cluster.submit(submit_request(datasets, f"job-ok-{i}")).external_job_id for i in range(5)]
    slow = cluster.submit(submit_request(datasets, "job-slow", sim_latency_ms=3000)).external_job_id
    flaky = cluster.submit(submit_request(datasets, "job-flaky", sim_error_rate=1.0)).external_job_id
    with ClusterClient(cluster.base_url, CLUSTER_KEY, read_timeout=0.5, max_retries=0) as client:
        start = time.monotonic()
        outcomes = client.poll_many(dict.fromkeys([*good, slow, flaky]))
        elapsed = time.monotonic() - start
    assert elapsed < 2.5, "one slow job stalled the poll"
    assert isinstance(outcomes[slow], ClusterTransient)
    assert "timed out" in str(outcomes[slow])
    flaky_outcome = outcomes[flaky]
    assert isinstance(flaky_outcome, ClusterTransient)
    assert flaky_outcome.status_code == 500
    assert all(outcomes[i].external_job_id == i for i in good)  # type: ignore[union-attr]


def test_poll_many_returns_by_its_deadline_even_when_a_job_hangs(cluster, datasets):
    ok = cluster.submit(submit_request(datasets, "job-on-time")).external_job_id
    hung = cluster.submit(submit_request(datasets, "job-hung", sim_latency_ms=4000)).external_job_id
    with ClusterClient(cluster.base_url, CLUSTER_KEY, read_timeout=30, poll_deadline_seconds=0.5) as client:
        start = time.monotonic()
        outcomes = client.poll_many({ok: None, hung: None})
        elapsed = time.monotonic() - start
    assert elapsed < 3.0, "the sweep waited for the hung job"
    assert isinstance(outcomes[hung], ClusterTransient)
    assert "poll deadline" in str(outcomes[hung])
    assert not isinstance(outcomes[ok], ClusterTransient)
