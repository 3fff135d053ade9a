"""The jobs list and notifications pages a page at a time, on PostgreSQL: the pages' reads go
through the same listings as the JSON API, cover every row once, stay owner-only, and any
``?page=`` value gives a page (never an error)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from api.runtime import Runtime
from db.models import JobStatus
from pages._jobs_data import PAGE_SIZE as JOBS_PAGE
from pages._jobs_data import user_jobs
from pages._notifications_data import PAGE_SIZE as NOTIFICATIONS_PAGE
from pages._notifications_data import user_notifications
from tests.accounts import make_token, make_user
from tests.component_tree import find_props
from tests.factories import make_job_history, make_notification_history
from tests.integration.dash_calls import call

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_context(app: Any) -> Iterator[None]:
    with app.server.app_context():
        yield


def _names(rows: list[dict[str, Any]]) -> list[str]:
    return [row["name"] for row in rows]


def test_job_pages_cover_every_own_job_once_in_the_apis_order(
    app_context: None, client: FlaskClient, runtime: Runtime, user: dict[str, Any]
) -> None:
    count = 2 * JOBS_PAGE + 10
    with runtime.transaction() as session:
        make_job_history(session, user["id"], count)
        make_job_history(session, make_user(runtime, "eve@example.com"), 5, prefix="eve")
    token = make_token(runtime, user["email"])
    pages = [user_jobs(user["id"], "all", n) for n in (1, 2, 3)]
    assert [view.page for view in pages] == [1, 2, 3]
    assert {(view.total, view.pages) for view in pages} == {(count, 3)}
    shown = [name for view in pages for name in _names(view.rows)]
    assert shown == [f"run-{i:03d}" for i in reversed(range(count))]  # newest first, none twice
    for view in pages:  # the API's page at the same limit/offset holds the same jobs
        offset = (view.page - 1) * JOBS_PAGE
        api = client.get(
            f"/api/jobs?limit={JOBS_PAGE}&offset={offset}", headers={"Authorization": f"Bearer {token}"}
        ).get_json()["data"]
        assert [job["id"] for job in api["items"]] == [row["id"] for row in view.rows]


def test_a_job_page_past_the_end_is_the_last_page_and_filters_page_too(
    app_context: None, runtime: Runtime, user: dict[str, Any]
) -> None:
    with runtime.transaction() as session:
        make_job_history(session, user["id"], JOBS_PAGE + 3)
        make_job_history(session, user["id"], 2, status=JobStatus.RUNNING, prefix="live")
    beyond = user_jobs(user["id"], "all", 99999)
    assert (beyond.page, beyond.pages) == (2, 2)
    assert _names(beyond.rows)[-1] == "run-000"  # the oldest job is reachable
    assert len(beyond.rows) == 5
    running = user_jobs(user["id"], "running", 2)
    assert (running.page, running.total, _names(running.rows)) == (1, 2, ["live-001", "live-000"])
    assert running.active == 2
    nothing = user_jobs(user["id"], "failed", 3)
    assert (nothing.page, nothing.pages, nothing.rows) == (1, 1, [])


def test_notification_pages_keep_unread_first_and_reach_the_oldest(
    app_context: None, runtime: Runtime, user: dict[str, Any]
) -> None:
    count = 2 * NOTIFICATIONS_PAGE + 20
    with runtime.transaction() as session:
        make_notification_history(session, user["id"], count, read=lambda i: i % 10 != 0)  # 12 unread
        make_notification_history(session, make_user(runtime, "eve@example.com"), 3, read=lambda i: False)
    pages = [user_notifications(user["id"], page=n) for n in (1, 2, 3)]
    assert {(view.total, view.unread, view.pages) for view in pages} == {(count, 12, 3)}
    titles = [item["title"] for view in pages for item in view.items]
    unread = [f"Update {i:03d}" for i in reversed(range(count)) if i % 10 == 0]
    read = [f"Update {i:03d}" for i in reversed(range(count)) if i % 10 != 0]
    assert titles == unread + read  # unread first, then newest first; every one once, only hers
    assert [item["title"] for item in pages[2].items][-1] == "Update 001"
    beyond = user_notifications(user["id"], page=400)
    assert beyond.page == 3
    assert beyond.items == pages[2].items


ROUTER = "update"  # Dash's page router: runs a page's layout(**query) for each navigation


def _navigate(client: FlaskClient, app: Any, path: str, search: str) -> tuple[int, str]:
    response = call(
        client,
        app,
        ROUTER,
        [
            {"id": "_pages_location", "property": "pathname", "value": path},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
    )
    return response.status_code, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("search", "newest", "oldest"),
    [
        ("?page=2", False, True),
        ("?page=abc", True, False),
        ("?page=-1", True, False),
        ("?page=0", True, False),
        ("?page=1.5", True, False),
        ("?page=99999", False, True),
        ("?page=" + "9" * 5000, False, True),
        ("?page=2&page=3", True, False),
        ("?status=completed&status=failed&page=2", False, True),
        ("?status=nonsense&page=2", False, True),
        ("?page=%00", True, False),
    ],
)
def test_any_page_query_on_the_jobs_list_gives_a_page(
    auth_client: FlaskClient,
    app: Any,
    runtime: Runtime,
    user: dict[str, Any],
    search: str,
    newest: bool,
    oldest: bool,
) -> None:
    with runtime.transaction() as session:
        make_job_history(session, user["id"], JOBS_PAGE + 1)
    status, body = _navigate(auth_client, app, "/training/jobs", search)
    assert status == 200
    assert (f'"run-{JOBS_PAGE:03d}"' in body, '"run-000"' in body) == (newest, oldest)
    shown = find_props(json.loads(body)["response"]["_pages_content"]["children"], "jobs-shown")
    assert shown is not None
    assert shown["data"]["page"] == (2 if oldest else 1)  # what the live refresh redraws


@pytest.mark.parametrize(
    ("search", "first_page"),
    [("?page=2", False), ("?page=abc", True), ("?page=-1", True), ("?page=99999", False), ("?page=", True)],
)
def test_any_page_query_on_notifications_gives_a_page(
    auth_client: FlaskClient, app: Any, runtime: Runtime, user: dict[str, Any], search: str, first_page: bool
) -> None:
    with runtime.transaction() as session:
        make_notification_history(session, user["id"], NOTIFICATIONS_PAGE + 1)
    status, body = _navigate(auth_client, app, "/notifications", search)
    assert status == 200
    newest, oldest = f'"Update {NOTIFICATIONS_PAGE:03d}"', '"Update 000"'
    assert (newest in body, oldest in body) == (first_page, not first_page)
    shown = find_props(json.loads(body)["response"]["_pages_content"]["children"], "notifications-shown-page")
    assert shown is not None
    assert shown["data"] == (1 if first_page else 2)  # what a mark read or a poll redraws
