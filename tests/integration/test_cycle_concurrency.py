"""Exactly once where it matters: overlapping cycles, a worker killed mid-submit, a job the cluster
already has, cancel vs complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.base import utcnow
from db.models import CostRecord, JobEvent, JobStatus, MetricPoint, Notification
from services.transitions import TransitionRefused, cancel_job
from tests.cycle_harness import (
    CANARY,
    LONG_HYPERPARAMETERS,
    all_terminal,
    count_rows,
    cycle,
    cycle_until,
    events,
    job,
    notifications,
    queue_jobs,
    sim_stats,
    statuses,
)
from tests.factories import make_dataset, make_job

ROOT = Path(__file__).resolve().parents[2]


def test_two_cycles_at_once_submit_each_job_once_and_never_duplicate(
    cycle_settings, sessions, owner, sim
) -> None:
    job_ids = queue_jobs(sessions, owner, count=10)
    settings = cycle_settings.with_overrides(submit_batch_size=5)
    deadline = time.monotonic() + 60
    while not all_terminal(sessions, job_ids)() and time.monotonic() < deadline:
        _cycles_at_once(settings, sessions, copies=3)
        time.sleep(0.1)
    assert statuses(sessions, job_ids) == ["completed"] * 10

    stats = sim_stats(sim)
    assert stats["jobs"] == 10
    assert stats["requests"]["submit"] == 10  # every job submitted exactly once
    for job_id in job_ids:
        done = job(sessions, job_id)
        assert notifications(sessions, job_id) == ["job_started", "job_completed"]
        assert count_rows(sessions, CostRecord, job_id) == 1
        assert len(events(sessions, job_id, "status_changed")) == 3
        with sessions() as session:
            steps = session.scalars(select(MetricPoint.step).where(MetricPoint.job_id == job_id)).all()
        assert sorted(steps) == list(range(1, done.total_steps + 1))


def _cycles_at_once(settings, sessions, *, copies: int) -> None:
    """Start `copies` cycles released by one barrier, so they really overlap."""
    barrier = threading.Barrier(copies)
    failures: list[BaseException] = []

    def one_cycle() -> None:
        try:
            barrier.wait()
            cycle(settings, sessions)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=one_cycle) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures


KILLED_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from settings import Settings
    from jobs.cycle import run_cycle

    marker = Path(sys.argv[1])

    def stall(claim, external_job_id):
        marker.write_text(external_job_id)
        time.sleep(600)  # SIGKILLed here: submitted, external id never saved

    run_cycle(Settings.from_env(), after_submit=stall)
    """
)


def test_worker_killed_between_submit_and_save_is_resubmitted_once(
    cycle_settings, sessions, owner, sim, tmp_path, pg_url
) -> None:
    (job_id,) = queue_jobs(sessions, owner)
    marker = tmp_path / "submitted"
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "SECRET_KEY": cycle_settings.secret_key,
        "GPU_CLUSTER_API_URL": cycle_settings.gpu_cluster_api_url,
        "GPU_CLUSTER_API_KEY": CANARY,
        "PUBLIC_BASE_URL": cycle_settings.public_base_url,
    }
    env.pop("REDIS_URL", None)
    worker = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, str(marker)], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the worker never submitted"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    external_job_id = marker.read_text()

    orphan = job(sessions, job_id)
    assert orphan.status == JobStatus.INITIALIZING
    assert orphan.external_job_id is None
    assert orphan.submit_attempts == 1

    # Within the lease nobody touches it; after it expires the next cycle re-submits.
    assert cycle(cycle_settings, sessions, lease_seconds=60).claimed == 0
    time.sleep(0.3)
    summary = cycle(cycle_settings, sessions, lease_seconds=0.2)
    assert (summary.claimed, summary.submitted) == (1, 1)
    resubmitted = job(sessions, job_id)
    assert resubmitted.external_job_id == external_job_id  # same idempotency key, same cluster job
    assert resubmitted.submit_attempts == 2
    assert events(sessions, job_id, "reclaimed")

    cycle_until(cycle_settings, sessions, all_terminal(sessions, [job_id]))
    assert job(sessions, job_id).status == JobStatus.COMPLETED
    assert sim_stats(sim)["jobs"] == 1  # the cluster saw one job
    assert count_rows(sessions, CostRecord, job_id) == 1  # billed once
    assert notifications(sessions, job_id) == ["job_started", "job_completed"]


def test_an_initializing_job_with_a_cluster_id_is_never_reclaimed_nor_blocks_the_queue(
    cycle_settings, sessions, owner, sim
) -> None:
    """A reclaim is only for a job the cluster never acknowledged (no external id). Our own writes
    save the id and `running` in one UPDATE, so a row with both `initializing` and an id comes from
    outside the processor (a restored backup, a hand-fixed row). Its lease has long expired, yet
    it must not be re-submitted, and it must not take a slot of the claim batch: claims are
    oldest first, so SUBMIT_BATCH_SIZE such rows would stop every submission for good."""
    with sessions.begin() as session:
        accepted = make_job(
            session,
            owner,
            make_dataset(session, owner).id,
            status=JobStatus.INITIALIZING,
            external_job_id="sim-accepted-before-the-crash",
            claimed_at=utcnow() - timedelta(hours=1),
            claim_token="lease-of-a-dead-worker",
            submit_attempts=1,
        ).id
    (waiting,) = queue_jobs(sessions, owner)  # queued after it: it would be claimed first

    summary = cycle(cycle_settings.with_overrides(submit_batch_size=1), sessions)

    assert str(accepted) not in sim_stats(sim)["submits"]
    left = job(sessions, accepted)
    assert (left.status, left.external_job_id) == (JobStatus.INITIALIZING, "sim-accepted-before-the-crash")
    assert (left.claim_token, left.submit_attempts) == ("lease-of-a-dead-worker", 1)
    assert events(sessions, accepted) == []
    # The batch's one slot went to the queued job.
    assert (summary.claimed, summary.submitted) == (1, 1)
    assert job(sessions, waiting).external_job_id is not None


def _terminal_counts(sessions, job_id) -> tuple[int, int, int]:
    with sessions() as session:
        terminal_events = session.scalar(
            select(func.count())
            .select_from(JobEvent)
            .where(JobEvent.job_id == job_id, JobEvent.to_status.in_(["completed", "failed", "cancelled"]))
        )
        terminal_notes = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.type.in_(["job_completed", "job_failed", "job_cancelled"]),
                Notification.metadata_["job_id"].as_string() == str(job_id),
            )
        )
    return int(terminal_events or 0), int(terminal_notes or 0), count_rows(sessions, CostRecord, job_id)


def test_user_cancel_racing_cluster_completion_ends_in_exactly_one_terminal_state(
    cycle_settings, sessions, owner, sim
) -> None:
    job_ids = queue_jobs(sessions, owner, count=5, hyperparameters={"batch_size": 8, "epochs": 1})
    cycle(cycle_settings, sessions)
    assert statuses(sessions, job_ids) == ["running"] * 5
    time.sleep(1.0)  # the cluster has finished them all; we have not seen it yet

    barrier = threading.Barrier(len(job_ids) + 1)
    outcomes: dict[str, str] = {}

    def user_cancels(job_id) -> None:
        barrier.wait()
        try:
            with sessions.begin() as session:
                cancel_job(session, owner, job_id, actor="user", now=utcnow())
            outcomes[str(job_id)] = "cancelled"
        except TransitionRefused:
            outcomes[str(job_id)] = "refused"

    def processor_polls() -> None:
        barrier.wait()
        cycle(cycle_settings, sessions)

    threads = [threading.Thread(target=user_cancels, args=(job_id,)) for job_id in job_ids]
    threads.append(threading.Thread(target=processor_polls))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    cycle(cycle_settings, sessions)  # and once more: nothing may change now
    for job_id in job_ids:
        final = job(sessions, job_id).status
        assert final in ("completed", "cancelled")
        assert (final == "cancelled") == (outcomes[str(job_id)] == "cancelled")
        assert _terminal_counts(sessions, job_id) == (1, 1, 1)


def test_cancel_first_then_cluster_completion_changes_nothing(cycle_settings, sessions, owner) -> None:
    (job_id,) = queue_jobs(sessions, owner, hyperparameters={"batch_size": 8, "epochs": 1})
    cycle(cycle_settings, sessions)
    with sessions.begin() as session:
        cancel_job(session, owner, job_id, actor="user", now=utcnow())
    time.sleep(1.0)
    cycle(cycle_settings, sessions)
    cancelled = job(sessions, job_id)
    assert cancelled.status == JobStatus.CANCELLED
    assert cancelled.cancel_confirmed_at is not None  # the cluster was told
    assert events(sessions, job_id, "cluster_cancel_acknowledged")
    assert _terminal_counts(sessions, job_id) == (1, 1, 1)
    assert notifications(sessions, job_id) == ["job_started", "job_cancelled"]


def test_cancel_is_retried_until_the_cluster_acknowledges(cycle_settings, sessions, owner, sim) -> None:
    (job_id,) = queue_jobs(sessions, owner, hyperparameters=LONG_HYPERPARAMETERS)
    cycle(cycle_settings, sessions)
    with sessions.begin() as session:
        cancel_job(session, owner, job_id, actor="user", now=utcnow())
    sim.set_faults(error_rate=1.0)
    cycle(cycle_settings, sessions)
    assert job(sessions, job_id).cancel_confirmed_at is None
    assert events(sessions, job_id, "cluster_cancel_failed")
    sim.set_faults(error_rate=0.0)
    cycle(cycle_settings, sessions)
    assert job(sessions, job_id).cancel_confirmed_at is not None
    assert _terminal_counts(sessions, job_id) == (1, 1, 1)


def test_completed_job_refuses_a_late_cancel(cycle_settings, sessions, owner) -> None:
    (job_id,) = queue_jobs(sessions, owner, hyperparameters={"batch_size": 8, "epochs": 1})
    cycle_until(cycle_settings, sessions, all_terminal(sessions, [job_id]))
    with pytest.raises(TransitionRefused, match="already completed"), sessions.begin() as session:
        cancel_job(session, owner, job_id, actor="user", now=utcnow())
    assert _terminal_counts(sessions, job_id) == (1, 1, 1)
