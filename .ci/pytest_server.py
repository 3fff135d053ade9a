"""Run pytest many times over one directory without paying the start-up each time (.ci/mutants.py).

Importing Dash, Plotly, SQLAlchemy, Hypothesis and the pytest plugins costs 5-7 s of CPU per pytest
process; a mutation run starts one per mutant. A server process imports those third-party packages
once, then forks a child per run that calls `pytest.main`. The server never imports the project's
own modules, so every child reads the project (and the mutant just written) from disk afresh.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import IO

# Third-party packages the tests import; none of them imports the project.
PRELOAD = (
    "pytest",
    "xdist.plugin",
    "dash",
    "dash.testing.plugin",
    "dash_bootstrap_components",
    "plotly.graph_objects",
    "flask",
    "flask_login",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.dialects.sqlite",
    "alembic.command",
    "psycopg",
    "redis",
    "rq",
    "httpx",
    "aiohttp",
    "hypothesis",
    "hypothesis.stateful",
    "schemathesis",
    "yaml",
)

SERVER = r"""
import json, os, signal, sys, time
for name in json.loads(sys.argv[1]):
    try:
        __import__(name)
    except ImportError:
        pass
import pytest

for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)  # its own group, so a timeout also ends what the tests started
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        try:
            code = int(pytest.main(job["args"]))
        except BaseException:
            code = 3
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    deadline = time.monotonic() + job["timeout"]
    code = None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.05)
    print(json.dumps({"code": code}), flush=True)
"""


class PytestServer:
    """One preloaded interpreter in `cwd` with `env`; `run` forks a pytest run from it."""

    def __init__(self, cwd: Path, env: dict[str, str], logs: Path) -> None:
        self.logs = logs
        self.runs = 0
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, json.dumps(PRELOAD)],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, args: list[str], timeout: float) -> tuple[int | None, str]:
        """pytest's exit code (None after `timeout` seconds) and everything it printed."""
        self.runs += 1
        log = self.logs / f"run-{self.runs}.log"
        stdin: IO[str] | None = self.process.stdin
        stdout: IO[str] | None = self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(json.dumps({"args": args, "timeout": timeout, "log": str(log)}) + "\n")
        stdin.flush()
        answer = stdout.readline()
        if not answer:
            raise RuntimeError("the pytest server died")
        code: int | None = json.loads(answer)["code"]
        return code, log.read_text() if log.exists() else ""

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> PytestServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
