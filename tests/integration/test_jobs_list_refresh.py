"""The jobs list's live refresh over the real callback endpoint, on PostgreSQL: a refresh where
nothing moved sends nothing, a moved row is sent alone (a Patch of that row), and other rows shown
(a new job) redraw the table with the ticked compare boxes kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from api.runtime import Runtime
from components.jobs_table import row_location
from db.models import JobStatus, TrainingJob
from pages._jobs_data import PAGE_SIZE
from tests.component_tree import find_props
from tests.factories import make_job_history
from tests.integration.dash_calls import call

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _open_list(client: FlaskClient, app: Any) -> dict[str, Any]:
    """The page as the router draws it: {"shown": SHOWN's data, "summary": the summary text}."""
    response = call(
        client,
        app,
        "update",
        [
            {"id": "_pages_location", "property": "pathname", "value": "/training/jobs"},
            {"id": "_pages_location", "property": "search", "value": ""},
        ],
    )
    page = json.loads(response.get_data())["response"]["_pages_content"]["children"]
    shown, summary = find_props(page, "jobs-shown"), find_props(page, "jobs-summary")
    assert shown is not None
    assert summary is not None
    return {"shown": shown["data"], "summary": summary["children"]}


def _refresh(client: FlaskClient, app: Any, page: dict[str, Any], picked: list[str] | None = None) -> Any:
    return call(
        client,
        app,
        "refresh",
        [{"id": "jobs-interval", "property": "n_intervals", "value": 1}],
        [
            {"id": "jobs-shown", "property": "data", "value": page["shown"]},
            {"id": "jobs-picked", "property": "data", "value": picked or []},
            {"id": "jobs-summary", "property": "children", "value": page["summary"]},
        ],
    )


@pytest.fixture
def running_page(runtime: Runtime, user: dict[str, Any]) -> list[str]:
    """A full page of running jobs, newest first (as the list shows them)."""
    with runtime.transaction() as session:
        jobs = make_job_history(session, user["id"], PAGE_SIZE, status=JobStatus.RUNNING, progress=10.0)
        return [str(job.id) for job in reversed(jobs)]


def test_a_refresh_where_nothing_moved_sends_nothing(
    auth_client: FlaskClient, app: Any, running_page: list[str]
) -> None:
    page = _open_list(auth_client, app)
    assert [row[0] for row in page["shown"]["rows"]] == running_page
    response = _refresh(auth_client, app, page)
    assert response.status_code == 200
    assert response.get_json() == {"multi": True, "response": {}}  # every output no_update


def test_a_moved_row_is_sent_alone_and_ticks_stay(
    auth_client: FlaskClient, app: Any, runtime: Runtime, running_page: list[str]
) -> None:
    page = _open_list(auth_client, app)
    moved, ticked = running_page[3], running_page[:2]
    with runtime.transaction() as session:
        session.execute(update(TrainingJob).where(TrainingJob.id == moved).values(progress=37.0))

    response = _refresh(auth_client, app, page, picked=[moved, *ticked])
    assert response.status_code == 200
    answer = response.get_json()["response"]
    assert set(answer) == {"jobs-table", "jobs-shown"}  # summary, pager, interval: unchanged
    (operation,) = answer["jobs-table"]["children"]["operations"]
    assert operation["operation"] == "Assign"
    assert operation["location"] == row_location(3)
    row = json.dumps(operation["params"]["value"])
    assert moved in row
    assert "37%" in row
    assert '"value": true' in row  # the moved row keeps its compare tick
    (digest,) = answer["jobs-shown"]["data"]["operations"]  # the store learns that one row, too
    assert digest["location"] == ["rows", 3]
    assert digest["params"]["value"][0] == moved
    assert digest["params"]["value"] != page["shown"]["rows"][3]

    rows = [*page["shown"]["rows"][:3], digest["params"]["value"], *page["shown"]["rows"][4:]]
    followed = _refresh(auth_client, app, {**page, "shown": {**page["shown"], "rows": rows}})
    assert followed.get_json()["response"] == {}  # the browser now shows it: nothing more to send


def test_a_status_change_is_sent_and_other_jobs_shown_redraw_the_table(
    auth_client: FlaskClient, app: Any, runtime: Runtime, user: dict[str, Any], running_page: list[str]
) -> None:
    page = _open_list(auth_client, app)
    with runtime.transaction() as session:
        session.execute(
            update(TrainingJob).where(TrainingJob.id == running_page[0]).values(status=JobStatus.COMPLETED)
        )
    changed = _refresh(auth_client, app, page).get_json()["response"]
    (operation,) = changed["jobs-table"]["children"]["operations"]
    assert operation["location"] == row_location(0)
    assert "Completed" in json.dumps(operation["params"]["value"])

    with runtime.transaction() as session:
        make_job_history(session, user["id"], 1, status=JobStatus.QUEUED, prefix="newest")
    redrawn = _refresh(auth_client, app, page, picked=[running_page[5]]).get_json()["response"]
    table = redrawn["jobs-table"]["children"]
    assert table["type"] == "Table"  # the whole table: the newest job pushes every row down
    assert "newest-000" in json.dumps(table)
    assert json.dumps(table).count('"value": true') == 1  # the ticked job is still ticked
    assert (
        "26 of 26" in redrawn["jobs-summary"]["children"]
        or "1–25 of 26" in redrawn["jobs-summary"]["children"]
    )
