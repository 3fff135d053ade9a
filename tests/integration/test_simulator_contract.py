"""docs/openapi.yaml is a valid OpenAPI 3.1 document, and the simulated cluster's real answers
(every status, every error) match the schema the document gives for that path, method and code."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from tests.simulated_cluster import CLUSTER_KEY, GPU, DatasetServer, jsonl

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
AUTH = {"Authorization": f"Bearer {CLUSTER_KEY}"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


def test_the_openapi_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises on any structural error


def test_the_document_keeps_the_seed_endpoints_and_fields(spec):
    assert {
        "/training/submit",
        "/training/status/{external_job_id}",
        "/training/cancel/{external_job_id}",
    } <= set(spec["paths"])
    status = spec["components"]["schemas"]["StatusResponse"]["properties"]
    seed = {"status", "stage", "progress", "current_epoch", "current_step", "metrics", "error"}
    added = {"metrics_history", "started_at", "finished_at", "total_steps", "artifact"}
    assert seed | added <= set(status)
    assert set(spec["components"]["schemas"]["Metrics"]["properties"]) == {
        "training_loss",
        "validation_loss",
        "learning_rate",
        "gradient_norm",
        "throughput",
        "gpu_utilization",
    }


class Checker:
    """Validates a response against the schema the spec declares for its path/method/status."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.checked: set[tuple[str, str, int]] = set()

    def __call__(self, template: str, response: httpx.Response) -> Any:
        method = response.request.method.lower()
        declared = self.spec["paths"][template][method]["responses"]
        assert str(response.status_code) in declared, (
            f"{response.status_code} not declared for {method} {template}"
        )
        answer = declared[str(response.status_code)]
        if "$ref" in answer:
            answer = self.spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        schema = answer["content"]["application/json"]["schema"]
        body = response.json()
        root = {**schema, "components": self.spec["components"]}
        jsonschema.validate(
            body, root, cls=jsonschema.Draft202012Validator, format_checker=jsonschema.FormatChecker()
        )
        self.checked.add((method, template, response.status_code))
        return body


def submit(
    http: httpx.Client, datasets: DatasetServer, job_id: str, rows: int = 40, **hyper: Any
) -> httpx.Response:
    url = datasets.add(f"{job_id}.jsonl", jsonl(rows))
    payload = {
        "job_id": job_id,
        "dataset_url": url,
        "hyperparameters": {"batch_size": 8} | hyper,
        "gpu_config": GPU,
    }
    return http.post("/training/submit", json=payload)


STATUS = "/training/status/{external_job_id}"
SUBMIT = "/training/submit"
CANCEL = "/training/cancel/{external_job_id}"


def test_real_answers_match_the_document(spec, simulator, datasets):
    check = Checker(spec)
    statuses_seen: set[str] = set()
    with httpx.Client(base_url=simulator.url, headers=AUTH) as http:
        created = check(SUBMIT, submit(http, datasets, "c-happy"))
        check(SUBMIT, submit(http, datasets, "c-happy"))  # idempotent replay: 200
        long_job = check(SUBMIT, submit(http, datasets, "c-long", rows=4000))["external_job_id"]
        failing = check(SUBMIT, submit(http, datasets, "c-fail", sim_fail_at=0.3))["external_job_id"]
        bad_data = http.post(
            SUBMIT, json={"job_id": "c-bad", "dataset_url": datasets.url("missing"), "gpu_config": GPU}
        ).json()["external_job_id"]

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for external_id in (created["external_job_id"], long_job, failing, bad_data):
                body = check(STATUS, http.get(f"/training/status/{external_id}", params={"since_step": 0}))
                check(STATUS, http.get(f"/training/status/{external_id}"))
                statuses_seen.add(body["status"])
            if {"queued", "running", "completed", "failed"} <= statuses_seen:
                break
            time.sleep(0.03)
        check(CANCEL, http.post(f"/training/cancel/{long_job}"))
        statuses_seen.add(
            check(STATUS, http.get(f"/training/status/{long_job}", params={"since_step": 3}))["status"]
        )

        # Errors carry {error, details} with the declared codes.
        check(SUBMIT, http.post(SUBMIT, content=b"not json"))
        check(
            SUBMIT,
            http.post(SUBMIT, json={"job_id": "x", "dataset_url": "http://h/d", "gpu_config": {"type": "?"}}),
        )
        check(STATUS, http.get("/training/status/sim-unknown"))
        check(STATUS, http.get("/training/status/sim-unknown", params={"since_step": "-1"}))
        check(CANCEL, http.post("/training/cancel/sim-unknown"))
        check(STATUS, http.get("/training/status/sim-unknown", headers={"Authorization": "Bearer wrong"}))
        for code in (403, 429, 500, 503):
            simulator.set_faults(fail_next=1, error_status=code, retry_after=1)
            check(STATUS, http.get("/training/status/sim-unknown"))

    assert statuses_seen == {"queued", "running", "completed", "failed", "cancelled"}
    codes = {code for _, _, code in check.checked}
    assert codes >= {200, 201, 400, 401, 403, 404, 422, 429, 500, 503}
