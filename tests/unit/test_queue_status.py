"""The pieces of `lora-pipeline status` and the cycle lock's expiry that need no services."""

from __future__ import annotations

from jobs.queue import _last_cycle_text, _one_line, cycle_lock_ttl_seconds
from settings import Settings


def _settings(interval: float) -> Settings:
    return Settings.from_env({"SECRET_KEY": "x" * 32, "CYCLE_INTERVAL_SECONDS": str(interval)})


def test_a_crashed_worker_blocks_cycles_for_about_one_interval_not_the_cycle_timeout() -> None:
    assert cycle_lock_ttl_seconds(_settings(0.5)) == 3.0
    assert cycle_lock_ttl_seconds(_settings(30)) == 30.0


def test_the_last_cycle_line_shows_a_summary_or_the_failure() -> None:
    ok = {"claimed": 2, "submitted": 1, "polled": 5, "points": 40, "finished": 1, "errors": 0, "seconds": 0.5}
    assert _last_cycle_text(ok) == "claimed 2, submitted 1, polled 5, points 40, finished 1, errors 0, 0.50 s"
    failed = {"failed": _one_line(ConnectionError("connection refused\nsecond line")), "at": 0}
    assert _last_cycle_text(failed) == "failed: ConnectionError: connection refused"
