"""/notifications and the navbar bell in headless Chromium on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from api.runtime import Runtime
from app import create_app
from components.job_form import dom_id
from components.notification_view import mark_read_id
from db.base import utcnow
from db.models import Notification
from pages._notifications_data import PAGE_SIZE
from settings import Settings
from tests.accounts import make_user
from tests.browser.accessibility import unnamed_controls
from tests.browser.clicks import click_in_view, click_page_link
from tests.browser.screens import save_screenshots
from tests.factories import make_notification_history
from tests.fixtures.browser import sign_in_browser
from tests.ports import free_port

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def _notify(
    runtime: Runtime, user_id: int, title: str, minutes_ago: int, *, read: bool = False, **extra: Any
) -> int:
    at = utcnow() - timedelta(minutes=minutes_ago)
    with runtime.transaction() as session:
        notification = Notification(
            user_id=user_id,
            type=extra.pop("type", "job_completed"),
            title=title,
            message=extra.pop("message", f"{title}: details."),
            action_url=extra.pop("action_url", "/training/jobs/00000000-0000-0000-0000-000000000001"),
            read_at=at if read else None,
            created_at=at,
            **extra,
        )
        session.add(notification)
        session.flush()
        return notification.id


@pytest.fixture
def fast_app(settings: Settings, runtime: Runtime) -> Any:
    """The app with a 1 s UI poll, so the bell's periodic refresh is seen within a test."""
    fast = replace(settings, ui_poll_seconds=1.0)
    dash_app = create_app(fast, runtime=replace(runtime, settings=fast))
    dash_app.server.config["TESTING"] = True
    return dash_app


@pytest.fixture
def bell_duo(dash_duo: Any, fast_app: Any, user: dict[str, Any]) -> Any:
    dash_duo.start_server(fast_app, navigate=False, port=free_port())
    sign_in_browser(dash_duo, user["email"], user["password"])
    return dash_duo


def _bell_count(dash_duo: Any) -> str | None:
    """The badge's number, "" when hidden; None while the bell is being re-rendered."""
    try:
        badge = dash_duo.driver.find_element(By.ID, "navbar-bell-count")
        return "" if "d-none" in (badge.get_attribute("class") or "") else badge.text
    except (NoSuchElementException, StaleElementReferenceException):
        return None


def _wait_bell(dash_duo: Any, expected: str) -> None:
    WebDriverWait(dash_duo.driver, 10).until(lambda _d: _bell_count(dash_duo) == expected)


def _titles(dash_duo: Any) -> list[str]:
    return [
        e.text
        for e in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#notifications-list .notification__title")
    ]


def test_ntf001_unread_first_mark_read_updates_the_bell(
    bell_duo: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    other = make_user(runtime, "mallory@example.com")
    _notify(runtime, other, "Mallory's secret job finished", 1)
    _notify(runtime, user["id"], "Old read news", 1, read=True)
    older = _notify(runtime, user["id"], "Training failed", 30, type="job_failed", priority="high")
    _notify(runtime, user["id"], "Training completed", 5)
    dash_duo = bell_duo
    _wait_bell(dash_duo, "2")
    bell = dash_duo.find_element("#navbar-bell")
    assert "Notifications, 2 unread" in bell.get_attribute("textContent")

    bell.click()  # the bell leads to the page
    dash_duo.wait_for_element("#notifications-list .notification")
    assert dash_duo.driver.current_url.endswith("/notifications")
    assert _titles(dash_duo) == ["Training completed", "Training failed", "Old read news"]
    assert "Mallory" not in dash_duo.driver.page_source
    assert dash_duo.find_element("#notifications-summary").text == "2 unread of 3"
    link = dash_duo.driver.find_element(By.LINK_TEXT, "Training completed")
    assert link.get_attribute("href").endswith("/training/jobs/00000000-0000-0000-0000-000000000001")
    save_screenshots(dash_duo, "notifications")
    assert unnamed_controls(dash_duo) == []

    dash_duo.driver.find_element(By.XPATH, f"//*[@id='{dom_id(mark_read_id(older))}']").click()
    _wait_bell(dash_duo, "1")
    dash_duo.wait_for_text_to_equal("#notifications-summary", "1 unread of 3", timeout=10)
    with runtime.transaction() as session:
        assert session.get(Notification, older).read_at is not None  # type: ignore[union-attr]

    dash_duo.find_element("#notifications-mark-all").click()
    _wait_bell(dash_duo, "")
    dash_duo.wait_for_text_to_equal("#notifications-summary", "All 3 read", timeout=10)
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, "#notifications-list .notification--unread")
    assert dash_duo.find_element("#notifications-mark-all").get_attribute("disabled") is not None
    with runtime.transaction() as session:
        unread_other = session.scalars(
            select(Notification.title).where(Notification.user_id == other, Notification.read_at.is_(None))
        ).all()
    assert unread_other == ["Mallory's secret job finished"]  # mark all read is the user's only
    assert dash_duo.get_logs() == []


def test_ntf002_bell_and_open_list_follow_new_notifications(
    bell_duo: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    dash_duo = bell_duo
    dash_duo.driver.get(f"{dash_duo.server.url}/notifications")
    dash_duo.wait_for_element("#notifications-empty")
    _wait_bell(dash_duo, "")
    _notify(runtime, user["id"], "Training completed", 0)
    _wait_bell(dash_duo, "1")  # no reload: the next poll picks it up, on any page
    WebDriverWait(dash_duo.driver, 10).until(lambda _d: _titles(dash_duo) == ["Training completed"])
    assert dash_duo.find_element("#notifications-summary").text == "1 unread of 1"
    for i in range(120):
        _notify(runtime, user["id"], f"Job {i} completed", 0)
    _wait_bell(dash_duo, "99+")
    assert dash_duo.get_logs() == []


def test_ntf003_empty_state(signed_in_duo: Any) -> None:
    dash_duo = signed_in_duo
    dash_duo.driver.get(f"{dash_duo.server.url}/notifications")
    assert dash_duo.wait_for_element("#notifications-empty").text.startswith("No notifications yet")
    assert dash_duo.find_element("#notifications-mark-all").get_attribute("disabled") is not None
    save_screenshots(dash_duo, "notifications-empty")
    assert dash_duo.get_logs() == []


def test_ntf004_pages_reach_the_oldest_and_mark_read_stays_on_the_page(
    bell_duo: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    count = 2 * PAGE_SIZE + 20  # three pages: 50, 50, 20
    with runtime.transaction() as session:
        rows = make_notification_history(session, user["id"], count, read=lambda i: i % 2 == 1)  # 60 unread
        oldest_unread = rows[0].id
        make_notification_history(session, make_user(runtime, "mallory@example.com"), 5, read=lambda i: False)
    dash_duo = bell_duo
    dash_duo.driver.get(f"{dash_duo.server.url}/notifications")
    dash_duo.wait_for_text_to_equal("#notifications-summary", "60 unread of 120 · showing 1–50", timeout=10)
    _wait_bell(dash_duo, "60")
    assert _titles(dash_duo)[0] == "Update 118"  # unread first, newest first

    click_page_link(dash_duo, "notifications-pager", "Next")
    dash_duo.wait_for_text_to_equal("#notifications-summary", "60 unread of 120 · showing 51–100", timeout=10)
    assert dash_duo.driver.current_url.endswith("/notifications?page=2")
    titles = _titles(dash_duo)
    assert titles[:10] == [f"Update {i:03d}" for i in range(18, -1, -2)]  # the oldest unread …
    assert titles[10] == "Update 119"  # … then the read ones, newest first

    mark = dash_duo.driver.find_element(By.XPATH, f"//*[@id='{dom_id(mark_read_id(oldest_unread))}']")
    click_in_view(dash_duo.driver, mark)
    _wait_bell(dash_duo, "59")
    dash_duo.wait_for_text_to_equal("#notifications-summary", "59 unread of 120 · showing 51–100", timeout=10)
    assert dash_duo.driver.current_url.endswith("/notifications?page=2")  # still this page, redrawn
    redrawn = _titles(dash_duo)  # the read one left this page for the end of the read ones
    assert redrawn[:10] == [f"Update {i:03d}" for i in range(18, 0, -2)] + ["Update 119"]
    with runtime.transaction() as session:
        assert session.get(Notification, oldest_unread).read_at is not None  # type: ignore[union-attr]

    click_page_link(dash_duo, "notifications-pager", "3")
    dash_duo.wait_for_text_to_equal(
        "#notifications-summary", "59 unread of 120 · showing 101–120", timeout=10
    )
    assert _titles(dash_duo)[-1] == "Update 000"  # the oldest of all, now read
    assert "Mallory" not in dash_duo.driver.page_source
    dash_duo.driver.refresh()
    dash_duo.wait_for_text_to_equal(
        "#notifications-summary", "59 unread of 120 · showing 101–120", timeout=10
    )
    save_screenshots(dash_duo, "notifications-pages")
    assert unnamed_controls(dash_duo) == []

    for query, shown in (("abc", "1–50"), ("-1", "1–50"), ("99999", "101–120")):
        dash_duo.driver.get(f"{dash_duo.server.url}/notifications?page={query}")
        dash_duo.wait_for_text_to_equal(
            "#notifications-summary", f"59 unread of 120 · showing {shown}", timeout=10
        )
    assert dash_duo.get_logs() == []
