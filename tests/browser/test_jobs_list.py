"""`/training/jobs` in headless Chromium: rows, status filter, links to the monitor, live refresh."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from selenium.webdriver.support.select import Select

from api.runtime import Runtime
from db.models import JobStatus, TrainingJob
from jobs.transitions import transition
from settings import Settings
from tests.browser.monitor_support import (
    POLL_SECONDS,
    UPDATE_REQUESTS_JS,
    advance,
    fast_app,
    seed_job,
    start_signed_in,
)
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def list_app(settings: Settings, runtime: Runtime) -> Any:
    return fast_app(settings, runtime)


def _rows(duo: Any) -> list[Any]:
    return duo.find_elements("#jobs-table tbody tr.jobs-row")


def test_jobs001_lists_own_jobs_filters_and_links_to_the_monitor(
    dash_duo: Any, list_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    running = seed_job(runtime, user["id"], JobStatus.RUNNING, points=10, dataset_name="chats-running")
    seed_job(runtime, user["id"], JobStatus.COMPLETED, points=5, dataset_name="chats-done")
    seed_job(runtime, user["id"], JobStatus.FAILED, dataset_name="chats-failed")
    seed_job(runtime, make_user(runtime, "eve@example.com"), JobStatus.RUNNING, dataset_name="not-mine")
    duo = start_signed_in(dash_duo, list_app, user)
    duo.wait_for_element("#jobs-table tbody tr.jobs-row", timeout=10)
    rows = _rows(duo)
    assert len(rows) == 3
    page = duo.find_element("#jobs-table").text
    assert "not-mine" not in page
    first = rows[0].text  # newest first: the failed job was created last
    assert "chats-failed" in first
    assert "Failed" in first
    assert "2× A100-80GB" in duo.find_element("#jobs-table").text
    assert "$0.23 / $1.20" in page
    assert "3 of 3 jobs" in duo.find_element("#jobs-summary").text

    Select(duo.find_element("#jobs-status-filter")).select_by_value("running")
    duo.wait_for_text_to_equal("#jobs-summary", "1 of 1 job · updating live", timeout=8)
    assert len(_rows(duo)) == 1

    # the running job's progress moves while the list is open
    advance(runtime, running, 30)
    duo.wait_for_contains_text("#jobs-table", "30%", timeout=8)

    duo.find_element(f"tr[data-job-id='{running}'] a").click()
    duo.wait_for_text_to_equal("#mon-title", "Training on chats-running", timeout=10)
    assert duo.driver.current_url.endswith(f"/training/jobs/{running}")
    assert duo.get_logs() == []


def test_jobs002_list_stops_polling_when_no_job_is_active(
    dash_duo: Any, list_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    running = seed_job(runtime, user["id"], JobStatus.RUNNING, points=3)
    duo = start_signed_in(dash_duo, list_app, user)
    duo.wait_for_contains_text("#jobs-summary", "updating live", timeout=10)
    duo.driver.execute_script(UPDATE_REQUESTS_JS)  # start counting while the list still polls
    with runtime.transaction() as session:
        job = session.get(TrainingJob, uuid.UUID(running))
        assert job is not None
        assert transition(session, job, JobStatus.COMPLETED, actor="cluster")
    duo.wait_for_text_to_equal("#jobs-summary", "1 of 1 job", timeout=8)
    assert "Completed" in duo.find_element("#jobs-table").text
    before = duo.driver.execute_script(UPDATE_REQUESTS_JS)
    assert before > 0  # the counter sees the list's ticks, so the equality below can fail
    time.sleep(POLL_SECONDS * 5)
    assert duo.driver.execute_script(UPDATE_REQUESTS_JS) == before
    assert duo.get_logs() == []
