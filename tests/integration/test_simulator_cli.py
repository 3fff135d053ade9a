"""`lora-pipeline cluster-sim` as a real process: it serves the contract on the port it is given,
honours --quiet and --time-scale, and refuses to start without an API key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from contract.results import ClusterConfigError, ClusterJobStatus
from jobs.cluster import ClusterClient
from tests.ports import free_port
from tests.simulated_cluster import CLUSTER_KEY, submit_request

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "cluster-sim", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_serving(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("cluster-sim did not start")


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.terminate()
    return process.communicate(timeout=10)


def test_cluster_sim_serves_the_contract_on_a_real_port(datasets):
    port = free_port()
    process = start("--port", str(port), "--api-key", CLUSTER_KEY, "--time-scale", "100", "--quiet")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        with ClusterClient(url, CLUSTER_KEY) as client:
            external_id = client.submit(submit_request(datasets, "cli-job")).external_job_id
            deadline = time.monotonic() + 15
            while (report := client.status(external_id)).status is not ClusterJobStatus.COMPLETED:
                assert time.monotonic() < deadline, report
                time.sleep(0.1)
        with ClusterClient(url, "wrong") as wrong, pytest.raises(ClusterConfigError):
            wrong.status(external_id)
    finally:
        out, _ = stop(process)
    assert out == "", "--quiet prints nothing"


def test_cluster_sim_announces_its_address_and_reads_the_key_from_the_environment():
    port = free_port()
    env = {**os.environ, "GPU_CLUSTER_API_KEY": CLUSTER_KEY}
    process = start("--port", str(port), env=env)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", process)
        answer = httpx.get(
            f"http://127.0.0.1:{port}/_sim/stats", headers={"Authorization": f"Bearer {CLUSTER_KEY}"}
        )
        assert answer.status_code == 200
    finally:
        out, _ = stop(process)
    assert f"http://127.0.0.1:{port}" in out
    assert CLUSTER_KEY not in out


def test_cluster_sim_without_a_key_exits_2_with_a_clear_message():
    env = {k: v for k, v in os.environ.items() if k != "GPU_CLUSTER_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "cli", "cluster-sim", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--api-key" in result.stderr


def test_cluster_sim_rejects_a_bad_time_scale():
    result = subprocess.run(
        [sys.executable, "-m", "cli", "cluster-sim", "--api-key", "k", "--time-scale", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "time-scale" in result.stderr
