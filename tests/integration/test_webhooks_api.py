"""`/api/webhooks` against real PostgreSQL + Redis: the secret shown once, SSRF refusals with their
reason (nothing stored), owner-only access, and a test delivery through a real burst worker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api.runtime import Runtime
from tests.integration.api_fixtures import ApiUser
from tests.webhook_receiver import loopback_receiver, run_burst_worker

PUBLIC = "https://93.184.215.14/hooks/pipeline"  # a public address literal: no DNS needed


def _create(user: ApiUser, **body: Any) -> Any:
    return user.post("/api/webhooks", json={"url": PUBLIC, "events": ["job_completed"], **body})


def test_the_secret_is_shown_once_and_never_listed(alice: ApiUser) -> None:
    answer = _create(alice, name="ops", format="slack", events=["job_failed", "budget_stop"])
    assert answer.status_code == 201
    created = answer.get_json()["data"]
    assert re.fullmatch(r"[0-9a-f]{64}", created["secret"])
    assert (created["format"], created["events"], created["enabled"]) == (
        "slack",
        ["job_failed", "budget_stop"],
        True,
    )
    listed = alice.get("/api/webhooks").get_json()["data"]
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    assert "health_warning" in listed["events"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http://127.0.0.1:8050/api/jobs", "loopback"),
        ("http://localhost/hook", "loopback"),  # checked after resolving, not by name
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("https://user:pw@93.184.215.14/hook", "user name or password"),
        ("https://", "no host"),
    ],
)
def test_a_forbidden_target_is_refused_with_its_reason_and_nothing_is_stored(
    alice: ApiUser, url: str, reason: str
) -> None:
    answer = _create(alice, url=url)
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] == "Invalid input"
    assert reason in body["details"]["url"]
    assert alice.get("/api/webhooks").get_json()["data"]["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": []}, "events"),
        ({"events": ["job_exploded"]}, "events"),
        ({"events": "job_completed"}, "events"),
        ({"format": "xml"}, "format"),
        ({"name": 7}, "name"),
        ({"url": 42}, "url"),
    ],
)
def test_bad_fields_are_named(alice: ApiUser, body: dict, field: str) -> None:
    answer = _create(alice, **body)
    assert answer.status_code == 400
    assert field in answer.get_json()["details"]


def test_another_users_webhook_is_a_404_everywhere(alice: ApiUser, bob: ApiUser) -> None:
    hook_id = _create(alice).get_json()["data"]["id"]
    for answer in (
        bob.get(f"/api/webhooks/{hook_id}/deliveries"),
        bob.post(f"/api/webhooks/{hook_id}/test"),
        bob.delete(f"/api/webhooks/{hook_id}"),
    ):
        assert answer.status_code == 404
        assert answer.get_json()["error"] == "Webhook not found"
    assert bob.get("/api/webhooks").get_json()["data"]["items"] == []
    assert alice.get(f"/api/webhooks/{hook_id}/deliveries").status_code == 200
    assert alice.delete(f"/api/webhooks/{hook_id}").status_code == 200
    assert alice.get(f"/api/webhooks/{hook_id}/deliveries").status_code == 404
    assert alice.get(f"/api/webhooks/{2**63}/deliveries").status_code == 404


def test_send_test_delivers_through_a_worker_and_logs_the_attempt(
    alice: ApiUser, runtime: Runtime, tmp_path: Path
) -> None:
    runtime.settings = runtime.settings.with_overrides(webhooks_allow_private=True)  # on-premise mode
    with loopback_receiver() as receiver:
        hook = _create(alice, url=receiver.url("/in")).get_json()["data"]
        answer = alice.post(f"/api/webhooks/{hook['id']}/test")
        assert answer.status_code == 202
        run_burst_worker(runtime.settings, tmp_path)
        (request,) = receiver.requests
    assert request.headers["x-pipeline-event"] == "test"
    (row,) = alice.get(f"/api/webhooks/{hook['id']}/deliveries").get_json()["data"]["items"]
    assert (row["event"], row["status_code"], row["ok"]) == ("test", 200, True)
    assert row["delivery_id"] == answer.get_json()["data"]["delivery_id"]
    assert row["latency_ms"] > 0
