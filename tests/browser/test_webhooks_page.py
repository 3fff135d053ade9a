"""`/account/webhooks` in headless Chromium on PostgreSQL + Redis: reached from the navbar, a refused
URL explained, a webhook added (secret shown once), "Send test" delivered by a real burst RQ worker
to a receiver on loopback, and the attempt appearing in the delivery log."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from api.runtime import Runtime
from app import create_app
from contract.signing import signature_problem
from settings import Settings
from tests.fixtures.browser import sign_in_browser
from tests.ports import free_port
from tests.webhook_receiver import loopback_receiver, run_burst_worker

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def on_premise_app(settings: Settings, runtime: Runtime) -> Any:
    """The app as an on-premise install runs it (private targets allowed) with a 1 s UI poll."""
    local = replace(settings, webhooks_allow_private=True, ui_poll_seconds=1.0)
    dash_app = create_app(local, runtime=replace(runtime, settings=local))
    dash_app.server.config["TESTING"] = True
    return dash_app


def test_whk001_send_test_reaches_a_loopback_receiver_and_is_logged(
    dash_duo: Any, on_premise_app: Any, user: dict[str, Any], settings: Settings, tmp_path: Path
) -> None:
    dash_duo.start_server(on_premise_app, navigate=False, port=free_port())
    sign_in_browser(dash_duo, user["email"], user["password"])
    dash_duo.driver.find_element(By.LINK_TEXT, "Webhooks").click()
    dash_duo.wait_for_text_to_equal("#webhooks-empty", "You have no webhooks.", timeout=10)

    dash_duo.find_element("#webhook-url").send_keys("ftp://files.example.com/drop")
    dash_duo.find_element("#webhook-create").click()
    dash_duo.wait_for_contains_text("#webhook-error", "must be an http:// or https:// URL", timeout=10)

    with loopback_receiver() as receiver:
        url_input = dash_duo.find_element("#webhook-url")
        url_input.clear()
        url_input.send_keys(receiver.url("/pipeline"))
        dash_duo.find_element("#webhook-name").send_keys("ops channel")
        dash_duo.find_element("#webhook-create").click()
        secret = dash_duo.wait_for_element("#webhook-secret", timeout=10).text
        assert len(secret) == 64
        dash_duo.wait_for_contains_text("#webhooks-table", "ops channel", timeout=10)

        dash_duo.find_element("#webhooks-table button.btn-outline-primary").click()  # Send test
        dash_duo.wait_for_text_to_equal("#webhook-log-empty", "No delivery attempts yet.", timeout=10)
        run_burst_worker(replace(settings, webhooks_allow_private=True), tmp_path)
        dash_duo.wait_for_contains_text("#webhook-log-table", "200 OK", timeout=10)
        (request,) = receiver.requests

    assert "test" in dash_duo.find_element("#webhook-log-table").text
    headers = request.headers
    assert (
        signature_problem(
            secret, headers["x-pipeline-timestamp"], headers["x-pipeline-signature"], request.body
        )
        is None
    )
    assert dash_duo.get_logs() == []
