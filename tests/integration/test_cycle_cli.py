"""`lora-pipeline cycle` and `lora-pipeline status`, run as an operator would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from db.models import JobStatus
from tests.cycle_harness import CANARY, job, queue_jobs

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_cycle_runs_once_inline_and_prints_its_summary(
    cycle_settings, sessions, owner, pg_url, redis_url
) -> None:
    (job_id,) = queue_jobs(sessions, owner)
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": cycle_settings.secret_key,
        "GPU_CLUSTER_API_URL": cycle_settings.gpu_cluster_api_url,
        "GPU_CLUSTER_API_KEY": CANARY,
        "PUBLIC_BASE_URL": cycle_settings.public_base_url,
    }
    done = run_cli(["cycle"], env)
    assert done.returncode == 0, done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith("cycle ")
    assert "claimed 1, submitted 1" in summary
    assert summary.endswith(" s")
    assert job(sessions, job_id).status in (JobStatus.RUNNING, JobStatus.COMPLETED)
    assert CANARY not in done.stdout + done.stderr

    status = run_cli(["status"], env)
    assert status.returncode == 0, status.stderr
    assert "jobs:" in status.stdout
    assert "last cycle:" in status.stdout
    assert "claimed 1, submitted 1" in status.stdout
    assert run_cli(["status", "--quiet"], env).stdout == ""


def test_cycle_against_an_unreachable_database_exits_1_with_a_clear_line(tmp_path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere",
        "SECRET_KEY": "s" * 32,
        "DATA_DIR": str(tmp_path),
    }
    env.pop("REDIS_URL", None)
    failed = run_cli(["cycle"], env)
    assert failed.returncode == 1
    assert failed.stdout.startswith("error: cycle failed: OperationalError")
    assert run_cli(["status"], env).returncode == 1


def test_worker_without_redis_explains_itself(tmp_path) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path), "SECRET_KEY": "s" * 32}
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    for command in ("worker", "scheduler"):
        result = run_cli([command], env)
        assert result.returncode == 2
        assert "REDIS_URL is not set" in result.stdout
