"""benchmarks/load_dashboard.py end to end at a small size, so the issue's load run cannot rot.

Last session's draft of it never produced a figure: its jobs asked for more epochs than the cluster
contract allows, every submission was rejected and the wait for `running` never ended. This runs the
script as an operator would (its own processes, scratch database, its own Redis DB) and checks what
it reports besides timing: every request answered correctly, cycles ran over every job, ticks
carried new points, every job still running. Latency is the benchmark's business, not this test's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.e2e.processes import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]
SHORT = ["--baseline-seconds", "4", "--seconds", "12", "--interval", "2"]


def test_load_dashboard_runs_small_and_reports_no_errors(redis_url: str) -> None:
    jobs = 12
    env = {**os.environ, "REDIS_URL": redis_url}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.load_dashboard", "--users", "4", "--jobs", str(jobs), *SHORT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=220,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    rows = {
        m.group(1, 2): m.group(0).split()
        for m in re.finditer(r"^(baseline|cycling)\s+(tick|api|all)\b.*$", out, re.M)
    }
    assert set(rows) == {(p, k) for p in ("baseline", "cycling") for k in ("tick", "api", "all")}, out
    for cells in rows.values():
        count, errors = int(cells[2]), int(cells[-1])
        assert count > 0, out
        assert errors == 0, out
    cycles = re.search(r"cycles while cycling: (\d+), polled (\d+)-(\d+) jobs", out)
    assert cycles is not None, out
    assert int(cycles.group(1)) >= 2, out
    assert (int(cycles.group(2)), int(cycles.group(3))) == (jobs, jobs), out
    ticks = re.search(r"ticks that brought new points while cycling: (\d+) of (\d+)", out)
    assert ticks is not None, out
    assert int(ticks.group(1)) > 0, out
    assert f"jobs still running at the end: {jobs} of {jobs}" in out, out
