"""RQ wiring: the cycle task, the worker, the scheduler, and `lora-pipeline status`.

One cycle at a time (an expiring, owner-token lock), one leader among schedulers, late cycles
skipped rather than queued, and nothing durable in Redis (docs/architecture.md §1, §5). The task
takes no arguments: RQ stores and logs them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.exceptions import StopRequested

from jobs.cycle import run_cycle
from jobs.locks import RedisLock
from jobs.webhook_dispatch import WEBHOOK_QUEUE
from settings import Settings

log = logging.getLogger(__name__)

QUEUE_NAME = "pipeline"
CYCLE_LOCK_KEY = "pipeline:cycle:lock"
LEADER_KEY = "pipeline:scheduler:leader"
LAST_CYCLE_KEY = "pipeline:cycle:last"


class RedisRequired(RuntimeError):
    """Worker and scheduler need REDIS_URL; the embedded default runs cycles on a timer instead."""


def redis_for(settings: Settings) -> Redis:
    if not settings.redis_url:
        raise RedisRequired(
            "REDIS_URL is not set: the worker and scheduler need Redis "
            "(without it, `lora-pipeline demo` runs cycles in-process)"
        )
    return Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5)


def cycle_timeout_seconds(settings: Settings) -> int:
    """How long one cycle may run before RQ stops it; the cycle lock lives slightly longer."""
    return int(max(60, 3 * settings.cycle_interval_seconds))


def cycle_lock_ttl_seconds(settings: Settings) -> float:
    """The cycle lock's expiry: short, and renewed while the cycle runs (`_keep_lock`).

    A worker killed with SIGKILL cannot release it, so its expiry is how long the next cycles are
    skipped: about one interval (at least 3 s), not the cycle timeout, so a crashed worker costs at
    most a cycle or two. A cycle that overran a lost lock is harmless (cycles may overlap safely).
    """
    return max(3.0, float(settings.cycle_interval_seconds))


def _keep_lock(lock: RedisLock, done: threading.Event) -> None:
    """Renew the cycle lock every third of its expiry until the cycle ends."""
    pause = lock.ttl_ms / 3000
    while not done.wait(pause):
        try:
            lock.hold()
        except RedisError as exc:  # Redis away: the cycle goes on; PostgreSQL keeps it exactly-once
            log.warning("could not renew the cycle lock: %s", exc)


def run_locked_cycle(settings: Settings, redis: Redis | None = None) -> str:
    """Run one cycle unless another is running (then return a 'skipped' line at once)."""
    connection = redis or redis_for(settings)
    lock = RedisLock(connection, CYCLE_LOCK_KEY, ttl_seconds=cycle_lock_ttl_seconds(settings))
    if not lock.acquire():
        log.info("cycle skipped: another cycle is still running")
        return "cycle skipped: another cycle is still running"
    done = threading.Event()
    heartbeat = threading.Thread(target=_keep_lock, args=(lock, done), name="cycle-lock", daemon=True)
    heartbeat.start()
    try:
        summary = run_cycle(settings)
    except Exception as exc:  # e.g. PostgreSQL restarting: keep the failure where `status` shows it
        _record_last_cycle(connection, {"failed": _one_line(exc), "at": time.time()})
        raise
    finally:
        done.set()
        heartbeat.join(timeout=5)
        try:
            lock.release()
        except RedisError as exc:  # the lock expires by itself; the cycle's work is committed
            log.warning("could not release the cycle lock: %s", exc)
    _record_last_cycle(connection, {**summary.as_dict(), "at": time.time()})
    return summary.line()


def _one_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:200]}"


def _record_last_cycle(connection: Redis, record: dict[str, Any]) -> None:
    try:
        connection.set(LAST_CYCLE_KEY, json.dumps(record), ex=86400)
    except RedisError as exc:
        log.warning("could not record the last cycle: %s", exc)


def cycle_task() -> str:
    """The RQ job: one locked cycle with this process's settings. No arguments, on purpose."""
    return run_locked_cycle(Settings.from_env())


def enqueue_cycle(queue: Queue, settings: Settings) -> str | None:
    """Enqueue one cycle unless one is already waiting; returns the RQ job id or None if skipped."""
    if queue.count > 0:
        log.debug("cycle not enqueued: the previous one has not started yet")
        return None
    interval = max(1, int(settings.cycle_interval_seconds))
    job = queue.enqueue(
        cycle_task,
        job_id=f"cycle-{int(time.time() * 1000)}",
        description="processor cycle",
        ttl=interval,  # not started within one interval: discarded (the next one is coming)
        job_timeout=cycle_timeout_seconds(settings),
        result_ttl=max(600, 20 * interval),
        failure_ttl=86400,
    )
    return str(job.id)


def run_scheduler(
    settings: Settings, *, stop_event: threading.Event | None = None, install_signals: bool = True
) -> int:
    """`lora-pipeline scheduler`: enqueue a cycle every CYCLE_INTERVAL_SECONDS while leader."""
    from logging_setup import configure_logging

    if threading.current_thread() is threading.main_thread():
        configure_logging(settings, "scheduler")
    try:
        redis = redis_for(settings)
    except RedisRequired as exc:
        print(f"error: {exc}")
        return 2
    stop = stop_event or threading.Event()
    if install_signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    queue = Queue(QUEUE_NAME, connection=redis)
    interval = settings.cycle_interval_seconds
    tick = min(1.0, interval / 4)
    leader = RedisLock(redis, LEADER_KEY, ttl_seconds=max(5.0, 5 * tick))
    was_leader = False
    next_at = time.monotonic()
    while not stop.is_set():
        try:
            is_leader = leader.hold()
            if is_leader != was_leader:
                log.info("scheduler is %s", "the leader" if is_leader else "standing by (another is leader)")
                was_leader = is_leader
            if is_leader and time.monotonic() >= next_at:
                job_id = enqueue_cycle(queue, settings)
                if job_id:
                    log.info("enqueued %s", job_id)
                # Missed ticks are skipped, not caught up: at most one cycle per interval.
                next_at = max(next_at + interval, time.monotonic())
        except RedisError as exc:
            log.warning("Redis unavailable (%s); retrying", exc)
            was_leader = False
        stop.wait(tick)
    with contextlib.suppress(RedisError):  # it expires by itself anyway
        leader.release()
    return 0


class PipelineWorker(Worker):
    """RQ's worker, with a shutdown that cannot wait a minute on its command listener.

    RQ stops the listener thread (shutdown and stop-job commands) by sending UNSUBSCRIBE and
    then lowering the thread's running flag, counting on the reply to wake it. When the thread
    reads the reply before the flag is down, it goes back to waiting up to 60 s, and redis-py
    8.2's `stop()` joins it without a bound: the worker hung after its last job on a loaded box
    (docs/architecture.md, process lifecycle). Lowering the flag first closes the race.
    """

    def unsubscribe(self) -> None:
        if self.pubsub_thread is None:
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
        self.pubsub_thread.stop(timeout=0)  # the flag goes down before the reply can exist
        self.pubsub.unsubscribe()  # its reply wakes the listener, which now sees the flag and ends
        self.pubsub_thread.join(timeout=1)  # a listener waiting on a dead socket is a daemon thread
        self.pubsub.close()


def run_worker(settings: Settings, *, burst: bool = False) -> int:
    """`lora-pipeline worker`: an RQ worker on the cycle queue, then the webhook queue (each job in a
    forked work horse). Cycles come first, so a cycle waits at most one delivery (seconds, capped by
    its timeouts); RQ's scheduler runs in the worker to move webhook retries back when due.

    RQ's worker exits when Redis goes away; this loop starts a new one once Redis answers again,
    so a Redis restart needs no operator. A shutdown request (SIGTERM/SIGINT) ends the loop.
    """
    from logging_setup import configure_logging

    configure_logging(settings, "worker")
    try:
        redis = redis_for(settings)
    except RedisRequired as exc:
        print(f"error: {exc}")
        return 2
    import jobs.cycle  # noqa: F401  imported once here so each forked horse starts warm

    delay = 0.5
    while True:
        name = f"pipeline-{socket.gethostname()}-{os.getpid()}-{int(time.time())}"
        try:
            queues = [Queue(QUEUE_NAME, connection=redis), Queue(WEBHOOK_QUEUE, connection=redis)]
            worker = PipelineWorker(queues, connection=redis, name=name)
            worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
            return 0  # burst finished, or a shutdown was requested
        except RedisError as exc:
            log.warning("lost Redis (%s); starting a new worker in %.1f s", exc, delay)
            try:
                time.sleep(delay)  # RQ's signal handlers are still installed: SIGTERM ends the wait
            except StopRequested:
                return 0
            delay = min(delay * 2, 10.0)


def status_report(settings: Settings) -> dict[str, Any]:
    """Queue depth, the last cycle, jobs by status and workers seen (for `lora-pipeline status`)."""
    from sqlalchemy import func, select

    from db.models import TrainingJob
    from db.session import make_engine

    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(TrainingJob.status, func.count()).group_by(TrainingJob.status))
            counts = {status: count for status, count in rows}
    finally:
        engine.dispose()
    report: dict[str, Any] = {"jobs": counts}
    if settings.redis_url:
        redis = redis_for(settings)
        queue = Queue(QUEUE_NAME, connection=redis)
        last = redis.get(LAST_CYCLE_KEY)
        report["queue_depth"] = queue.count
        report["workers"] = [worker.name for worker in Worker.all(connection=redis)]
        report["leader"] = bool(redis.exists(LEADER_KEY))
        report["last_cycle"] = json.loads(last) if last else None
    return report


def print_status(settings: Settings) -> int:
    """Exit 0 when the database (and Redis, if configured) answer; 1 otherwise."""
    try:
        report = status_report(settings)
    except Exception as exc:
        print(f"unhealthy: {type(exc).__name__}: {exc}")
        return 1
    jobs = ", ".join(f"{status} {count}" for status, count in sorted(report["jobs"].items())) or "none"
    print(f"jobs: {jobs}")
    if "queue_depth" in report:
        last = report["last_cycle"]
        ago = f"{time.time() - last['at']:.0f} s ago" if last else "never"
        print(
            f"queue depth: {report['queue_depth']}; scheduler leader: {'yes' if report['leader'] else 'no'}"
        )
        print(f"workers: {', '.join(report['workers']) or 'none'}")
        print(f"last cycle: {ago}" + (f" ({_last_cycle_text(last)})" if last else ""))
    return 0


def _last_cycle_text(last: dict[str, Any]) -> str:
    if "failed" in last:
        return f"failed: {last['failed']}"
    keys = ("claimed", "submitted", "polled", "points", "finished", "errors")
    return ", ".join(f"{key} {last.get(key, 0)}" for key in keys) + f", {last.get('seconds', 0):.2f} s"


def run_cycle_cli(settings: Settings) -> int:
    """`lora-pipeline cycle`: one cycle inline (under the Redis cycle lock when Redis is configured)."""
    from logging_setup import configure_logging

    configure_logging(settings, "cycle")
    try:
        line = run_locked_cycle(settings) if settings.redis_url else run_cycle(settings).line()
    except Exception as exc:
        log.exception("cycle failed")
        print(f"error: cycle failed: {type(exc).__name__}: {exc}")
        return 1
    print(line)
    return 0
