"""`/training/jobs` in headless Chromium: rows, status filter, links to the monitor, live refresh, pages."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from dash.testing.wait import until
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

from api.runtime import Runtime
from db.models import JobStatus, TrainingJob
from pages._jobs_data import PAGE_SIZE
from services.transitions import transition
from settings import Settings
from tests.accounts import make_user
from tests.browser.clicks import click_page_link
from tests.browser.monitor_support import (
    POLL_SECONDS,
    UPDATE_REQUESTS_JS,
    advance,
    fast_app,
    seed_job,
    start_signed_in,
)
from tests.factories import make_job_history

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


# Read in one script: the live refresh redraws the table and pager every POLL_SECONDS, so
# element handles kept across several WebDriver calls can go stale mid-read.
_NAMES_JS = (
    "return [...document.querySelectorAll('#jobs-table tbody tr.jobs-row .jobs-row__link')]"
    ".map(e => e.textContent);"
)
_PAGER_LINKS_JS = (
    "return [...document.querySelectorAll('#jobs-pager a.page-link')].map(e => e.textContent.trim());"
)


def _names(duo: Any) -> list[str]:
    return list(duo.driver.execute_script(_NAMES_JS))


def _pager_links(duo: Any) -> list[str]:
    return list(duo.driver.execute_script(_PAGER_LINKS_JS))


def _click_live(duo: Any, selector: str) -> None:
    """Click an element of the live table, finding it again if a refresh replaced it first."""

    def clicked() -> bool:
        try:
            duo.find_element(selector).click()
        except StaleElementReferenceException:
            return False
        return True

    until(clicked, 5.0, msg=f"{selector} kept being replaced")


def _go_to_page(duo: Any, link_text: str, summary: str) -> None:
    click_page_link(duo, "jobs-pager", link_text)
    duo.wait_for_text_to_equal("#jobs-summary", summary, timeout=10)


def test_jobs003_pages_reach_the_oldest_job_follow_it_live_and_survive_reload_and_back(
    dash_duo: Any, list_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    count = 2 * PAGE_SIZE + 10  # three pages: 25, 25, 10
    with runtime.transaction() as session:
        oldest = make_job_history(session, user["id"], count)[0]
        oldest.status = JobStatus.RUNNING.value  # live, and on the last page
        oldest_id = str(oldest.id)
        make_job_history(session, make_user(runtime, "eve@example.com"), 30, prefix="eve")
    duo = start_signed_in(dash_duo, list_app, user)
    duo.wait_for_text_to_equal("#jobs-summary", f"1–25 of {count} jobs · updating live", timeout=10)
    assert _names(duo)[0] == "run-059"
    assert len(_rows(duo)) == PAGE_SIZE
    assert _pager_links(duo) == ["2", "3", "Next"]  # page 1 is not a link, nor is Previous

    _go_to_page(duo, "Next", f"26–50 of {count} jobs · updating live")
    assert duo.driver.current_url.endswith("/training/jobs?page=2")
    assert _names(duo)[0] == "run-034"
    _go_to_page(duo, "3", f"51–60 of {count} jobs · updating live")
    assert duo.driver.current_url.endswith("/training/jobs?page=3")
    assert _names(duo)[-1] == "run-000"
    assert _pager_links(duo) == ["Previous", "1", "2"]
    assert "eve-" not in duo.find_element("#jobs-table").text

    advance(runtime, oldest_id, 30)  # the live refresh redraws page 3, where this job is
    duo.wait_for_contains_text(f"tr[data-job-id='{oldest_id}']", "77%", timeout=8)
    assert _names(duo)[-1] == "run-000"

    duo.driver.refresh()
    duo.wait_for_text_to_equal("#jobs-summary", f"51–60 of {count} jobs · updating live", timeout=10)
    duo.driver.back()
    duo.wait_for_text_to_equal("#jobs-summary", f"26–50 of {count} jobs · updating live", timeout=10)

    duo.driver.forward()
    duo.wait_for_text_to_equal("#jobs-summary", f"51–60 of {count} jobs · updating live", timeout=10)
    _click_live(duo, f"tr[data-job-id='{oldest_id}'] a")
    duo.wait_for_text_to_equal("#mon-title", "run-000 · run-data", timeout=10)
    assert duo.driver.current_url.endswith(f"/training/jobs/{oldest_id}")
    assert duo.get_logs() == []


def test_jobs004_filter_starts_at_its_first_page_in_the_url_and_keeps_keyboard_focus(
    dash_duo: Any, list_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    with runtime.transaction() as session:
        make_job_history(session, user["id"], PAGE_SIZE + 5)
        make_job_history(session, user["id"], PAGE_SIZE + 2, status=JobStatus.FAILED, prefix="bad")
    duo = start_signed_in(dash_duo, list_app, user, next_path="/training/jobs?page=2")
    duo.wait_for_text_to_equal("#jobs-summary", "26–50 of 57 jobs", timeout=10)

    duo.find_element("#jobs-status-filter").send_keys(Keys.ARROW_DOWN)  # all → active: none
    duo.wait_for_text_to_equal("#jobs-summary", "0 of 0 jobs", timeout=10)
    assert duo.driver.current_url.endswith("/training/jobs?status=active")
    assert duo.driver.execute_script("return document.activeElement.id") == "jobs-status-filter"
    Select(duo.find_element("#jobs-status-filter")).select_by_value("failed")
    duo.wait_for_text_to_equal("#jobs-summary", "1–25 of 27 jobs", timeout=10)
    assert duo.driver.current_url.endswith("/training/jobs?status=failed")
    _go_to_page(duo, "2", "26–27 of 27 jobs")
    assert duo.driver.current_url.endswith("/training/jobs?status=failed&page=2")
    assert _names(duo) == ["bad-001", "bad-000"]
    duo.driver.refresh()
    duo.wait_for_text_to_equal("#jobs-summary", "26–27 of 27 jobs", timeout=10)
    assert Select(duo.find_element("#jobs-status-filter")).first_selected_option.text == "Failed"

    for query, summary in (
        ("page=abc", "1–25 of 57 jobs"),
        ("page=-1", "1–25 of 57 jobs"),
        ("page=99999", "51–57 of 57 jobs"),
        ("status=failed&page=99999", "26–27 of 27 jobs"),
        ("status=bogus&page=3", "51–57 of 57 jobs"),
    ):
        duo.driver.get(f"{duo.server.url}/training/jobs?{query}")
        duo.wait_for_text_to_equal("#jobs-summary", summary, timeout=10)
    assert duo.get_logs() == []
