"""Real product processes for the restart and lifecycle tests: start, signal, read logs, wait.

Each role runs as `python -m cli <role>` from the repository root in a session of its own, so a
test can SIGKILL a whole process group (an RQ worker and its work horse, as a container crash
would) or SIGTERM just the main process (as `docker stop` does).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from dash.testing.errors import TestingTimeoutError
from dash.testing.wait import until

ROOT = Path(__file__).resolve().parents[2]
CANARY = "cluster-key-canary-7f3a9c"


class Processes:
    """The processes one test started; `stop_all()` ends every one of them (and only them)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def all_logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.logs.glob("*.log")))

    def kill_group(self, name: str) -> list[int]:
        """SIGKILL the process and everything it forked (a crashed container); returns the pids.

        RQ's work horse moves to a process group of its own (`os.setpgrp`), so the descendants are
        found through /proc rather than by process group.
        """
        process = self.running[name]
        pids = [process.pid, *descendants(process.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)
        return pids

    def terminate(self, name: str, timeout: float = 30) -> int:
        """SIGTERM the main process only (what `docker stop` does) and wait for it to exit."""
        process = self.running[name]
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def wait_until(condition: Callable[[], bool], timeout: float, what: str, pause: float = 0.1) -> float:
    """Poll `condition` (dash.testing's `until`) until true; returns the seconds it took. Fails the
    test at the timeout. An error from `condition` counts as "not yet" (a service still starting or
    restarting), except an AssertionError: a condition that asserts fails the test at once."""
    started = time.monotonic()
    try:
        until(lambda: _holds(condition), timeout, poll=pause)
    except TestingTimeoutError:
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
    return time.monotonic() - started


def _holds(condition: Callable[[], bool]) -> bool:
    try:
        return bool(condition())
    except AssertionError:
        raise
    except Exception:
        return False


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False
