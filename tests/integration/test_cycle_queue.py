"""RQ wiring against real Redis: one scheduler leads, cycles never pile up, Redis loss loses nothing,
and the cluster key never reaches logs, Redis or the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis
from redis.client import PubSub
from rq import Queue
from sqlalchemy import Engine, text

from jobs.locks import RedisLock
from jobs.queue import (
    CYCLE_LOCK_KEY,
    LEADER_KEY,
    QUEUE_NAME,
    PipelineWorker,
    run_locked_cycle,
    run_scheduler,
)
from tests.cycle_harness import CANARY, LONG_HYPERPARAMETERS, job, queue_jobs, statuses
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_one_scheduler_leads_and_a_late_cycle_is_skipped_not_queued(settings, redis_url) -> None:
    fast = settings.with_overrides(cycle_interval_seconds=0.5)
    redis = Redis.from_url(redis_url)
    stop = threading.Event()
    schedulers = [
        threading.Thread(
            target=run_scheduler, args=(fast,), kwargs={"stop_event": stop, "install_signals": False}
        )
        for _ in range(2)
    ]
    for thread in schedulers:
        thread.start()
    try:
        time.sleep(1.8)
        # Nobody consumes: however many ticks passed, one cycle waits, not a pile of them.
        assert redis.llen(f"rq:queue:{QUEUE_NAME}") == 1
        consumed: list[bytes] = []
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            item = redis.lpop(f"rq:queue:{QUEUE_NAME}")
            if isinstance(item, bytes):
                consumed.append(item)
            time.sleep(0.02)
        # Two schedulers, 0.5 s interval, 2.5 s: about 5 cycles (not 10).
        assert 3 <= len(consumed) <= 7
        assert all(item.startswith(b"cycle-") for item in consumed)
        assert redis.get(LEADER_KEY) is not None
        redis.flushdb()  # the leader's key vanishes: a scheduler takes it again
        time.sleep(1.0)
        assert redis.get(LEADER_KEY) is not None
        assert redis.llen(f"rq:queue:{QUEUE_NAME}") == 1
    finally:
        stop.set()
        for thread in schedulers:
            thread.join(timeout=5)


def test_a_cycle_is_skipped_while_another_runs(settings, redis_url) -> None:
    redis = Redis.from_url(redis_url)
    holder = RedisLock(redis, CYCLE_LOCK_KEY, ttl_seconds=30)
    assert holder.acquire()
    assert run_locked_cycle(settings, redis) == "cycle skipped: another cycle is still running"
    assert holder.release()


# ---- the real processes ------------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A redis-server of our own, so the test can kill and restart it without disturbing others."""
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(tmp_path)]
    state: dict[str, subprocess.Popen[bytes]] = {}

    def start() -> None:
        state["process"] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if Redis(port=port).ping():
                    return
            except Exception:
                time.sleep(0.05)
        pytest.fail("private redis-server did not start")

    def restart() -> None:
        state["process"].send_signal(signal.SIGKILL)
        state["process"].wait(timeout=10)
        time.sleep(1.0)  # workers and the scheduler see connection errors meanwhile
        start()

    start()
    yield f"redis://127.0.0.1:{port}/0", restart
    state["process"].kill()
    state["process"].wait(timeout=10)


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
def test_worker_and_scheduler_survive_redis_flush_and_restart_and_never_leak_the_key(
    cycle_settings, sessions, owner, pg_url, pg_engine: Engine, private_redis, tmp_path
) -> None:
    redis_url, restart_redis = private_redis
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": cycle_settings.secret_key,
        "GPU_CLUSTER_API_URL": cycle_settings.gpu_cluster_api_url,
        "GPU_CLUSTER_API_KEY": CANARY,
        "PUBLIC_BASE_URL": cycle_settings.public_base_url,
        "CYCLE_INTERVAL_SECONDS": "0.5",
        "DATA_DIR": str(tmp_path / "data"),
    }
    logs = {name: tmp_path / f"{name}.log" for name in ("scheduler", "worker")}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "cli", name],
            cwd=ROOT,
            env=env,
            stdout=logs[name].open("w"),
            stderr=subprocess.STDOUT,
        )
        for name in logs
    ]
    redis = Redis.from_url(redis_url)
    try:
        first = queue_jobs(sessions, owner, count=2, hyperparameters=LONG_HYPERPARAMETERS)
        _wait(lambda: statuses(sessions, first) == ["running"] * 2, 30, "the first jobs to run")

        redis.flushall()
        second = queue_jobs(sessions, owner, hyperparameters=LONG_HYPERPARAMETERS)
        _wait(lambda: statuses(sessions, second) == ["running"], 30, "a job submitted after FLUSHALL")

        restart_redis()
        third = queue_jobs(sessions, owner)
        everything = [*first, *second, *third]
        _wait(lambda: statuses(sessions, everything) == ["completed"] * 4, 60, "every job to complete")
        for job_id in everything:
            assert job(sessions, job_id).final_cost is not None
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    # The key canary: not in any log line, any Redis value, or any database row.
    for name, path in logs.items():
        content = path.read_text()
        assert CANARY not in content, f"the cluster key leaked into the {name} log"
        assert "enqueued cycle-" in content or name == "worker"
    for key in redis.keys("*"):
        assert CANARY.encode() not in (redis.dump(key) or b""), f"the cluster key is in Redis key {key!r}"
    with pg_engine.connect() as connection:
        for table in ("lora_training_jobs", "lora_job_events", "lora_notifications", "lora_cost_records"):
            rows = connection.execute(text(f"SELECT row_to_json(t)::text FROM {table} t")).scalars().all()  # noqa: S608
            assert rows
            assert not any(CANARY in row for row in rows), f"the cluster key is in {table}"


def _listener_reads_the_reply_first(pubsub: PubSub, monkeypatch) -> None:
    """RQ's shutdown race, made certain: UNSUBSCRIBE returns only once the listener thread has read
    its reply and gone back to waiting (what a loaded box does now and then)."""
    send = pubsub.unsubscribe

    def unsubscribe_and_let_the_listener_read_the_reply(*args: object) -> None:
        send(*args)
        deadline = time.monotonic() + 5
        while pubsub.subscribed and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)

    monkeypatch.setattr(pubsub, "unsubscribe", unsubscribe_and_let_the_listener_read_the_reply)


def test_a_worker_stops_its_command_listener_at_once_whatever_order_the_reply_comes_in(
    redis_url, monkeypatch
) -> None:
    redis = Redis.from_url(redis_url)
    worker = PipelineWorker([Queue(QUEUE_NAME, connection=redis)], connection=redis)
    worker.subscribe()
    assert worker.pubsub is not None
    assert worker.pubsub_thread is not None
    deadline = time.monotonic() + 5
    while not worker.pubsub.subscribed and time.monotonic() < deadline:
        time.sleep(0.01)
    _listener_reads_the_reply_first(worker.pubsub, monkeypatch)

    stopping = threading.Thread(target=worker.unsubscribe, daemon=True)
    started = time.monotonic()
    stopping.start()
    stopping.join(timeout=10)

    # RQ's own order waits for the listener's 60 s timeout here (redis-py 8.2 joins it unbounded).
    assert not stopping.is_alive(), "the worker is still waiting for its command listener"
    assert time.monotonic() - started < 3
    assert not worker.pubsub_thread.is_alive()
