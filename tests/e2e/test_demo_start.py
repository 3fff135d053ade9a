"""The README's first command as a new user runs it: `lora-pipeline demo` on a fresh data folder.

Its seeded job must train. A fresh start once failed it at once ("could not download the dataset"):
the first cycle submitted it before the web server listened, and the simulated cluster fetches the
dataset from that server on submit. Whether that race shows here depends on how fast the process
starts, so the ordering itself is pinned in tests/integration/test_demo_seed.py; this is the
whole first start, as the README promises it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import Processes, wait_until
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(180)]
SETTINGS = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DATA_DIR",
    "GPU_CLUSTER_API_URL",
    "GPU_CLUSTER_API_KEY",
)


def _seeded_job(database: Path) -> tuple[str, int, str | None]:
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT status, current_step, error_message FROM lora_training_jobs"
        ).fetchone()
    return row if row is not None else ("missing", 0, None)


def test_a_fresh_demo_trains_its_seeded_job(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    fresh_shell = {k: v for k, v in os.environ.items() if k not in SETTINGS}  # as a new user's shell
    processes = Processes(fresh_shell, tmp_path / "logs")
    try:
        port = free_port()
        processes.start("demo", "demo", "--port", str(port), "--data-dir", str(data))
        database = data / "pipeline.sqlite3"
        wait_until(lambda: database.exists() and _seeded_job(database)[0] != "missing", 60, "the seeded job")

        def training() -> bool:
            status, step, error = _seeded_job(database)
            assert status != "failed", f"the seeded job failed: {error}\n{processes.log('demo')}"
            return status == "running" and step > 0

        # Real time: the sample job's Qwen2.5 0.5B loads for ~40 s before its first step.
        wait_until(training, 120, "the seeded job to train")

        # The banner's API token answers for the demo user (issue 13.6: a new user can use the API).
        (line,) = [x for x in processes.log("demo").splitlines() if x.strip().startswith("API token")]
        token = line.split()[2]
        assert token.startswith("lp_")
        answer = httpx.get(
            f"http://127.0.0.1:{port}/api/jobs", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert answer.status_code == 200
        assert [job["name"] for job in answer.json()["data"]["items"]] == ["First look"]
    finally:
        processes.stop_all()
