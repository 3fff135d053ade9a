"""The contract client against the simulated cluster over real HTTP: the happy path and idempotency,
cancel, since_step history, and what a job's life looks like through the typed results."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from contract.results import ClusterJobStatus, ClusterNotFound, JobStatusReport, MetricsPoint
from jobs.cluster import ClusterClient
from simulator.runner import start_simulator_in_thread
from tests.simulated_cluster import CLUSTER_KEY, DatasetServer, submit_request


def wait_for(
    cluster: ClusterClient, external_id: str, done: Callable[[JobStatusReport], bool], timeout: float = 15.0
) -> JobStatusReport:
    deadline = time.monotonic() + timeout
    while True:
        report = cluster.status(external_id)
        if done(report) or time.monotonic() > deadline:
            return report
        time.sleep(0.05)


def test_submit_runs_to_completion_with_artifact_and_cluster_times(cluster, datasets):
    result = cluster.submit(submit_request(datasets, "job-happy"))
    assert result.external_job_id
    assert result.status is ClusterJobStatus.QUEUED

    running = wait_for(cluster, result.external_job_id, lambda r: r.status is not ClusterJobStatus.QUEUED)
    assert running.status in (ClusterJobStatus.RUNNING, ClusterJobStatus.COMPLETED)
    assert running.started_at is not None

    final = wait_for(cluster, result.external_job_id, lambda r: r.is_terminal)
    assert final.status is ClusterJobStatus.COMPLETED
    assert final.progress == 100.0
    # 40 rows / batch 8 = 5 steps per epoch, 3 epochs.
    assert final.total_steps == 15
    assert final.current_step == 15
    assert final.current_epoch == 3
    assert final.started_at is not None
    assert final.finished_at is not None
    assert final.finished_at > final.started_at
    assert final.artifact is not None
    assert final.artifact.uri.endswith(".safetensors")
    assert final.artifact.checksum
    assert final.artifact.checksum.startswith("sha256:")
    assert final.metrics["training_loss"] is not None
    assert final.metrics["training_loss"] > 0
    assert final.notes == ()


def test_resubmitting_the_same_job_id_returns_the_same_external_id(cluster, datasets, simulator):
    request = submit_request(datasets, "job-idem")
    first = cluster.submit(request)
    again = cluster.submit(request)
    other = cluster.submit(submit_request(datasets, "job-other"))
    assert again.external_job_id == first.external_job_id
    assert other.external_job_id != first.external_job_id
    stats = httpx.get(
        f"{simulator.url}/_sim/stats", headers={"Authorization": f"Bearer {CLUSTER_KEY}"}
    ).json()
    assert stats["jobs"] == 2
    assert stats["submits"] == {"job-idem": 2, "job-other": 1}


def test_cancel_stops_a_running_job_and_is_idempotent(cluster, datasets):
    # Long enough that it is still training when cancelled.
    external_id = cluster.submit(submit_request(datasets, "job-cancel", rows=4000)).external_job_id
    wait_for(cluster, external_id, lambda r: (r.current_step or 0) > 0)

    result = cluster.cancel(external_id)
    assert result.status is ClusterJobStatus.CANCELLED
    stopped = cluster.status(external_id)
    time.sleep(0.3)
    later = cluster.status(external_id)
    assert later.status is ClusterJobStatus.CANCELLED
    assert later.current_step == stopped.current_step  # nothing moves after a cancel
    assert later.finished_at is not None
    assert cluster.cancel(external_id).status is ClusterJobStatus.CANCELLED


def test_cancelling_a_completed_job_leaves_it_completed(cluster, datasets):
    external_id = cluster.submit(submit_request(datasets, "job-done")).external_job_id
    wait_for(cluster, external_id, lambda r: r.is_terminal)
    assert cluster.cancel(external_id).status is ClusterJobStatus.COMPLETED


def test_since_step_history_has_no_gaps_or_duplicates_across_polls(datasets):
    with (
        start_simulator_in_thread(api_key=CLUSTER_KEY, time_scale=40.0) as sim,
        ClusterClient(sim.url, CLUSTER_KEY) as client,
    ):
        request = submit_request(datasets, "job-history", rows=400, batch_size=4, epochs=2)
        external_id = client.submit(request).external_job_id
        seen: list[MetricsPoint] = []
        polls = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            since = seen[-1].step if seen else 0
            report = client.status(external_id, since_step=since)
            polls += 1
            assert all(point.step > since for point in report.metrics_history)
            seen.extend(report.metrics_history)
            if report.is_terminal:
                break
            time.sleep(0.07)
        full = client.status(external_id, since_step=0).metrics_history

    assert report.status is ClusterJobStatus.COMPLETED
    steps = [point.step for point in seen]
    assert polls > 5, "the run should span many polls"
    assert steps == sorted(set(steps)), "duplicates or out of order"
    assert steps == [point.step for point in full], "a point was lost between polls"
    assert steps == list(range(1, 201)), "the trainer logs every step for a run this short"
    assert seen == list(full)  # the same values however they were fetched (deterministic)
    assert all(point["training_loss"] is not None and point.timestamp is not None for point in seen)


def test_status_of_an_unknown_job_is_not_found(cluster):
    with pytest.raises(ClusterNotFound) as raised:
        cluster.status("sim-does-not-exist")
    assert raised.value.status_code == 404
    with pytest.raises(ClusterNotFound):
        cluster.cancel("sim-does-not-exist")


def test_many_jobs_run_at_once_and_poll_many_reports_each(cluster, datasets):
    ids = [cluster.submit(submit_request(datasets, f"job-many-{i}")).external_job_id for i in range(30)]
    outcomes = cluster.poll_many(dict.fromkeys(ids, 0) | {"sim-missing": None})
    assert set(outcomes) == {*ids, "sim-missing"}
    assert isinstance(outcomes["sim-missing"], ClusterNotFound)
    assert all(isinstance(outcomes[i], JobStatusReport) for i in ids)
    finals = [wait_for(cluster, i, lambda r: r.is_terminal) for i in ids]
    assert {r.status for r in finals} == {ClusterJobStatus.COMPLETED}


def test_poll_many_answers_as_the_one_call_status_does(cluster, datasets):
    """The aiohttp sweep and the httpx ``status`` call parse and classify alike."""
    ids = [cluster.submit(submit_request(datasets, f"job-same-{i}")).external_job_id for i in range(10)]
    for i in ids:
        wait_for(cluster, i, lambda r: r.is_terminal)
    swept = cluster.poll_many(dict.fromkeys(ids, 0) | {"sim-missing": 3})
    assert {i: swept[i] for i in ids} == {i: cluster.status(i, since_step=0) for i in ids}
    assert len(swept[ids[0]].metrics_history) == 15
    with pytest.raises(ClusterNotFound) as one_call:
        cluster.status("sim-missing", since_step=3)
    assert isinstance(swept["sim-missing"], ClusterNotFound)
    assert str(swept["sim-missing"]) == str(one_call.value), "same message whichever transport"


def test_poll_many_called_from_inside_an_event_loop_still_works(cluster, datasets):
    external_id = cluster.submit(submit_request(datasets, "job-in-loop")).external_job_id

    async def inside() -> dict:
        return cluster.poll_many({external_id: None, "sim-missing": None})

    outcomes = asyncio.run(inside())
    assert outcomes[external_id].external_job_id == external_id
    assert isinstance(outcomes["sim-missing"], ClusterNotFound)


def test_the_same_job_id_draws_the_same_curves_on_another_cluster(datasets: DatasetServer):
    histories = []
    for _ in range(2):
        with (
            start_simulator_in_thread(api_key=CLUSTER_KEY, time_scale=200.0) as sim,
            ClusterClient(sim.url, CLUSTER_KEY) as client,
        ):
            external_id = client.submit(submit_request(datasets, "job-replay")).external_job_id
            wait_for(client, external_id, lambda r: r.is_terminal)
            history = client.status(external_id, since_step=0).metrics_history
            histories.append(
                [(p.step, p["training_loss"], p["validation_loss"], p["learning_rate"]) for p in history]
            )
    assert histories[0] == histories[1]
    assert len(histories[0]) == 15
