"""The production topology as real processes: `lora-pipeline web`, `worker`, `scheduler` and
`cluster-sim` against PostgreSQL and Redis. A job created through the JSON API trains to completion
by itself: queued → initializing → running → completed, with metrics, one cost record and the
notifications; the cluster key never shows up in an HTTP answer, a log, Redis or the database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from sqlalchemy import Engine, text

from tests.accounts import make_token, make_user
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CANARY = "cluster-key-canary-7f3a9c"


class Topology:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("w")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "cli", *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def log_text(self) -> str:
        return "".join(path.read_text() for path in self.logs.glob("*.log"))

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} never answered")


@pytest.fixture
def topology(
    pg_url: str, pg_engine: Engine, redis_url: str, runtime: Any, tmp_path: Path
) -> Iterator[Topology]:
    web_port, sim_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": runtime.settings.secret_key,
        "GPU_CLUSTER_API_URL": f"http://127.0.0.1:{sim_port}",
        "GPU_CLUSTER_API_KEY": CANARY,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
        "CYCLE_INTERVAL_SECONDS": "1",
        "DATA_DIR": str(tmp_path / "data"),
    }
    (tmp_path / "logs").mkdir()
    topo = Topology(env, tmp_path / "logs")
    topo.env["WEB_URL"] = f"http://127.0.0.1:{web_port}"
    try:
        topo.start("cluster-sim", "cluster-sim", "--port", str(sim_port), "--time-scale", "40")
        topo.start("web", "web", "--port", str(web_port), "--workers", "1")
        topo.start("worker", "worker")
        topo.start("scheduler", "scheduler")
        wait_for(f"http://127.0.0.1:{sim_port}/health")
        wait_for(f"http://127.0.0.1:{web_port}/health")
        yield topo
    finally:
        topo.stop()


def test_a_job_created_through_the_api_trains_to_completion_by_itself(
    topology: Topology, runtime: Any, pg_engine: Engine, redis_url: str
) -> None:
    make_user(runtime, "e2e@example.com")
    token = make_token(runtime, "e2e@example.com")
    bodies: list[str] = []
    api = httpx.Client(
        base_url=topology.env["WEB_URL"],
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        event_hooks={"response": [lambda response: bodies.append(response.read().decode())]},
    )
    lines = "".join(json.dumps({"prompt": f"q{i}?", "completion": f"a{i}."}) + "\n" for i in range(48))
    uploaded = api.post("/api/datasets", data={"name": "e2e"}, files={"file": ("e2e.jsonl", lines.encode())})
    assert uploaded.status_code == 201, uploaded.text
    dataset_id = uploaded.json()["data"]["id"]
    created = api.post(
        "/api/jobs",
        json={
            "dataset_id": dataset_id,
            "preset_id": "balanced",
            "name": "e2e run",
            "hyperparameters": {"batch_size": 8, "epochs": 2},
            "gpu_config": {"type": "A100-80GB", "count": 1},
        },
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["data"]["job"]["id"]
    assert created.json()["data"]["job"]["status"] == "queued"

    seen: list[str] = []
    deadline = time.monotonic() + 90
    detail: dict[str, Any] = {}
    while time.monotonic() < deadline:
        detail = api.get(f"/api/jobs/{job_id}").json()["data"]
        status = detail["job"]["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.3)
    assert seen[-1] == "completed", (
        f"{seen}; {detail['job'].get('error_message')}\n{topology.log_text()[-3000:]}"
    )
    assert "running" in seen

    job = detail["job"]
    ordered = sorted(detail["events"], key=lambda event: event["id"])
    changes = [(e["from_status"], e["to_status"]) for e in ordered if e["kind"] == "status_changed"]
    assert changes == [("queued", "initializing"), ("initializing", "running"), ("running", "completed")]
    assert job["progress"] == 100
    assert job["current_step"] == job["total_steps"] > 0
    assert detail["metrics_summary"]["total_points"] == job["total_steps"]
    assert [row["step"] for row in detail["metrics"]] == list(range(1, job["total_steps"] + 1))
    assert all(row["training_loss"] is not None for row in detail["metrics"])
    assert len(detail["cost_records"]) == 1
    assert detail["cost_records"][0]["amount"] == job["final_cost"]
    assert detail["cost_records"][0]["details"]["gpu_type"] == "A100-80GB"

    notes = api.get("/api/notifications").json()["data"]
    kinds = sorted(n["type"] for n in notes["items"] if n["action_url"] == f"/training/jobs/{job_id}")
    assert kinds == ["job_completed", "job_started"]

    # The cluster key: in no HTTP answer, no process log, no Redis value, no database row.
    assert not any(CANARY in body for body in bodies)
    topology.stop()
    assert CANARY not in topology.log_text()
    redis = Redis.from_url(redis_url)
    for key in redis.keys("*"):
        assert CANARY.encode() not in (redis.dump(key) or b""), key
    with pg_engine.connect() as connection:
        dump = connection.execute(
            text("SELECT string_agg(row_to_json(t)::text, '') FROM lora_training_jobs t")
        ).scalar_one()
        events = connection.execute(
            text("SELECT string_agg(row_to_json(t)::text, '') FROM lora_job_events t")
        ).scalar_one()
    assert CANARY not in dump
    assert CANARY not in events
