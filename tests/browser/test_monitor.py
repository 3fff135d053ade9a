"""The live training monitor in headless Chromium on PostgreSQL: FR-4.4 end to end.

Each test drives the real app (login guard, service layer, state machine) and writes to the
database between ticks the way the cycle would. Every test ends with no browser console errors.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from dash.testing.wait import until
from sqlalchemy import select

from api.runtime import Runtime
from components.formatters import format_loss, format_throughput
from db.base import utcnow
from db.models import JobEvent, JobStatus, TrainingJob
from pages.monitor import layout
from services.transitions import transition
from settings import Settings
from tests.accounts import make_user
from tests.browser.monitor_support import (
    DATASET_NAME,
    POLL_SECONDS,
    TRACE_LENGTHS_JS,
    UPDATE_REQUESTS_JS,
    advance,
    fast_app,
    metrics_at,
    seed_job,
    start_signed_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
WAIT = 8.0  # seconds for a chart or the modal to get where a test waits for it (TestingTimeoutError)


@pytest.fixture
def monitor_app(settings: Settings, runtime: Runtime) -> Any:
    return fast_app(settings, runtime)


def _open(duo: Any, job_id: str) -> None:
    duo.driver.get(f"{duo.server.url}/training/jobs/{job_id}")


def _loaded(duo: Any) -> None:
    duo.wait_for_element("#mon-badge .badge", timeout=10)


def _trace_lengths(duo: Any, graph_id: str) -> list[int] | None:
    result: list[int] | None = duo.driver.execute_script(TRACE_LENGTHS_JS, graph_id)
    return result


def _choose(duo: Any, group: str, label: str) -> None:
    next(el for el in duo.find_elements(f"{group} label") if el.text == label).click()


def _loss_layout(duo: Any, path: str) -> Any:
    script = "let v = document.querySelector('#mon-loss-graph .js-plotly-plot').layout;"
    script += "for (const k of arguments[0].split('.')) { v = v && v[k]; } return v;"
    return duo.driver.execute_script(script, path)


def _status(runtime: Runtime, job_id: str) -> str:
    with runtime.transaction() as session:
        return session.scalars(select(TrainingJob.status).where(TrainingJob.id == uuid.UUID(job_id))).one()


def test_mon001_running_job_details_cards_chart_and_live_progress(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = seed_job(runtime, user["id"], JobStatus.RUNNING, points=20)
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    _loaded(duo)

    assert duo.find_element("#mon-title").text == f"Training on {DATASET_NAME}"
    badge = duo.find_element("#mon-badge .badge")
    assert badge.text == "Running"
    assert "bg-primary" in badge.get_attribute("class")
    assert duo.find_elements("#mon-badge .badge .bi-play-circle")
    progress = duo.find_element("#mon-progress").text
    for expected in ("20%", "Epoch 1 / 2", "Step 20 / 100"):
        assert expected in progress
    now = metrics_at(20)
    assert duo.find_element("#mon-tl").text == format_loss(now["training_loss"])
    assert duo.find_element("#mon-vl").text == format_loss(now["validation_loss"])
    assert duo.find_element("#mon-tp").text == format_throughput(now["throughput"])
    assert duo.find_element("#mon-co").text.startswith("$")
    assert "est. $1.20" in duo.find_element("#mon-co-d").text
    # training (20 points) and validation (every 5th step) on one chart, plus the best marker
    until(lambda: (_trace_lengths(duo, "mon-loss-graph") or [0])[0] == 20, WAIT, msg="loss chart")
    lengths = _trace_lengths(duo, "mon-loss-graph")
    assert lengths is not None
    assert (lengths[1], lengths[4]) == (4, 1)
    assert _trace_lengths(duo, "mon-panels-graph") == [20, 20, 20, 20]

    # the user zooms; then the cycle stores 10 more steps: the page appends them and keeps the zoom
    duo.driver.execute_script(
        "Plotly.relayout(document.querySelector('#mon-loss-graph .js-plotly-plot'), {'xaxis.range': [2, 12]})"
    )
    advance(runtime, job_id, 30)
    duo.wait_for_contains_text("#mon-progress", "Step 30 / 100", timeout=8)
    until(lambda: (_trace_lengths(duo, "mon-loss-graph") or [0])[0] == 30, WAIT, msg="appended points")
    assert _trace_lengths(duo, "mon-loss-graph")[1] == 6  # type: ignore[index]
    assert duo.find_element("#mon-tp").text == format_throughput(metrics_at(30)["throughput"])
    x_range = duo.driver.execute_script(
        "return document.querySelector('#mon-loss-graph .js-plotly-plot').layout.xaxis.range"
    )
    assert x_range == [2, 12]

    # the job completes: the badge follows and the page stops polling
    duo.driver.execute_script(UPDATE_REQUESTS_JS)  # start counting while the page still polls
    with runtime.transaction() as session:
        job = session.get(TrainingJob, uuid.UUID(job_id))
        assert job is not None
        assert transition(session, job, JobStatus.COMPLETED, actor="cluster")
    duo.wait_for_text_to_equal("#mon-badge .badge", "Completed", timeout=8)
    assert "d-none" in duo.find_element("#mon-cancel-wrap").get_attribute("class")
    before = duo.driver.execute_script(UPDATE_REQUESTS_JS)
    assert before > 0  # the counter sees the page's ticks, so the equality below can fail
    time.sleep(POLL_SECONDS * 5)
    assert duo.driver.execute_script(UPDATE_REQUESTS_JS) == before
    assert duo.get_logs() == []


def test_mon002_cancel_with_confirmation_makes_the_job_cancelled(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = seed_job(runtime, user["id"], JobStatus.RUNNING, points=10)
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    _loaded(duo)
    duo.wait_for_element("#mon-cancel-open").click()
    duo.wait_for_element("#mon-cancel-dismiss").click()  # "keep running" changes nothing
    until(lambda: not duo.find_elements("#mon-cancel-modal .modal.show"), WAIT, msg="modal closed")
    assert _status(runtime, job_id) == "running"

    duo.find_element("#mon-cancel-open").click()
    duo.wait_for_element("#mon-cancel-confirm").click()
    duo.wait_for_contains_text("#mon-cancel-result", "Job cancelled", timeout=8)
    duo.wait_for_text_to_equal("#mon-badge .badge", "Cancelled", timeout=8)
    assert "bg-warning" in duo.find_element("#mon-badge .badge").get_attribute("class")
    assert "d-none" in duo.find_element("#mon-cancel-wrap").get_attribute("class")
    assert _status(runtime, job_id) == "cancelled"
    with runtime.transaction() as session:
        actors = session.scalars(select(JobEvent.actor).where(JobEvent.to_status == "cancelled")).all()
    assert actors == [f"user:{user['id']}"]
    duo.driver.find_element("link text", "Activity Log").click()
    duo.wait_for_contains_text("#mon-activity", "running → cancelled", timeout=5)
    assert duo.get_logs() == []


def test_mon003_finished_job_has_no_cancel_no_polling_and_config_tab(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = seed_job(runtime, user["id"], JobStatus.COMPLETED, points=40, progress=100.0, current_step=100)
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    _loaded(duo)
    assert duo.find_element("#mon-badge .badge").text == "Completed"
    assert duo.find_elements("#mon-badge .badge.bg-success .bi-check-circle")
    assert "d-none" in duo.find_element("#mon-cancel-wrap").get_attribute("class")
    assert duo.find_element("#mon-co").text == "$0.23"
    assert duo.find_element("#mon-eta").text == "done"
    # opened already finished: the interval never starts
    time.sleep(POLL_SECONDS)
    before = duo.driver.execute_script(UPDATE_REQUESTS_JS)
    time.sleep(POLL_SECONDS * 5)
    assert duo.driver.execute_script(UPDATE_REQUESTS_JS) == before

    # chart options: log y-axis and elapsed-time x-axis redraw the finished job's chart
    _choose(duo, "#mon-y-scale", "Log")
    _choose(duo, "#mon-x-axis", "Elapsed time")
    until(lambda: _loss_layout(duo, "yaxis.type") == "log", WAIT, msg="log axis")
    until(lambda: _loss_layout(duo, "xaxis.title.text") == "elapsed (min)", WAIT, msg="elapsed axis")

    duo.driver.find_element("link text", "Configuration").click()
    duo.wait_for_contains_text("#mon-config", "Preset", timeout=5)
    config = duo.find_element("#mon-config").text
    for expected in (
        "balanced",
        "A100-80GB",
        "Learning rate",
        "0.0002",
        "Rank",
        "16",
        DATASET_NAME,
        "12,000",
        "100",
    ):
        assert expected in config, expected

    duo.find_element("#mon-back").click()
    duo.wait_for_element("#jobs-page .jobs-row", timeout=8)
    assert duo.driver.current_url.endswith("/training/jobs")
    assert duo.get_logs() == []


def test_mon004_failed_job_activity_log_shows_error_and_cluster_id(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = seed_job(
        runtime, user["id"], JobStatus.FAILED, points=5, error_message="CUDA out of memory at step 5"
    )
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    _loaded(duo)
    assert duo.find_elements("#mon-badge .badge.bg-danger .bi-x-octagon")
    duo.driver.find_element("link text", "Activity Log").click()
    duo.wait_for_contains_text("#mon-activity", "CUDA out of memory", timeout=5)
    activity = duo.find_element("#mon-activity").text
    assert "CUDA out of memory at step 5" in activity
    assert "ext-7f3a" in activity
    assert "queued → running" in activity
    assert duo.get_logs() == []


def test_mon005_badge_colour_and_icon_per_status(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    expected = {
        JobStatus.QUEUED: ("bg-secondary", "bi-hourglass-split"),
        JobStatus.INITIALIZING: ("bg-info", "bi-gear"),
        JobStatus.RUNNING: ("bg-primary", "bi-play-circle"),
        JobStatus.COMPLETED: ("bg-success", "bi-check-circle"),
        JobStatus.FAILED: ("bg-danger", "bi-x-octagon"),
        JobStatus.CANCELLED: ("bg-warning", "bi-slash-circle"),
    }
    jobs = {status: seed_job(runtime, user["id"], status) for status in expected}
    duo = start_signed_in(dash_duo, monitor_app, user)
    for status, (color, icon) in expected.items():
        _open(duo, jobs[status])
        duo.wait_for_text_to_equal("#mon-badge .badge", status.value.capitalize(), timeout=8)
        assert duo.find_elements(f"#mon-badge .badge.{color} .{icon}"), status
        cancel_hidden = "d-none" in duo.find_element("#mon-cancel-wrap").get_attribute("class")
        assert cancel_hidden == status.is_terminal, status
    assert duo.get_logs() == []


def test_mon006_another_users_job_shows_not_found_and_leaks_nothing(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    other = make_user(runtime, "mallory@example.com")
    secret_job = seed_job(runtime, other, JobStatus.RUNNING, points=5, dataset_name="secret-medical-notes")
    duo = start_signed_in(dash_duo, monitor_app, user)
    for job_id in (secret_job, str(uuid.uuid4()), "not-a-uuid"):
        _open(duo, job_id)
        duo.wait_for_contains_text("#mon-not-found", "Job not found", timeout=8)
        page = duo.driver.page_source
        assert "secret-medical-notes" not in page
        assert "ext-7f3a" not in page
        assert "d-none" in duo.find_element("#mon-body").get_attribute("class")
        assert duo.driver.title == "Training job · PIPELINE"
    assert _status(runtime, secret_job) == "running"
    assert duo.get_logs() == []


LOSS_CHART_HEIGHT = 450  # .monitor-graph--loss in assets/monitor.css, at desktop width
PANELS_CHART_HEIGHT = 480  # .monitor-graph--panels: 240 px per row (--panel-rows, 2 for 4 panels)
PANELS_BOX_JS = """
const box = document.querySelector('#mon-panels-graph').parentElement;
return [box.getBoundingClientRect().height, getComputedStyle(box).getPropertyValue('--panel-rows').trim()];
"""

# The loss chart's drawn height, its <svg> height and how far its plot and card extend: the card
# must contain the whole plot (x-axis tick labels and title included) whatever happened before.
LOSS_GEOMETRY_JS = """
const graph = document.querySelector('#mon-loss-graph');
const plot = graph.querySelector('.js-plotly-plot');
const svg = plot.querySelector('svg.main-svg');
const card = graph.closest('.card');
const ticks = [...plot.querySelectorAll('.xtick text')].map(t => t.getBoundingClientRect().bottom);
return {
  layoutHeight: plot._fullLayout ? plot._fullLayout.height : null,
  svgHeight: svg ? svg.getBoundingClientRect().height : null,
  plotBottom: plot.getBoundingClientRect().bottom,
  graphBottom: graph.getBoundingClientRect().bottom,
  cardBottom: card.getBoundingClientRect().bottom,
  tickBottom: ticks.length ? Math.max(...ticks) : null,
};
"""


def _loss_geometry(duo: Any) -> dict[str, float]:
    geometry: dict[str, float] = duo.driver.execute_script(LOSS_GEOMETRY_JS)
    return geometry


def _assert_loss_chart_fits(duo: Any, when: str) -> None:
    g = _loss_geometry(duo)
    assert g["tickBottom"] is not None, f"{when}: no x-axis tick labels drawn: {g}"
    assert g["svgHeight"] == pytest.approx(g["layoutHeight"], abs=1), f"{when}: {g}"
    assert g["plotBottom"] <= g["cardBottom"] + 0.5, f"{when}: plot overflows its card: {g}"
    assert g["tickBottom"] <= g["cardBottom"], f"{when}: x-axis labels below the card: {g}"


def test_mon007_loss_chart_keeps_its_height_through_live_ticks_and_completion(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    """Regression: watching a job to completion used to leave the loss plot clipped by its card."""
    duo = start_signed_in(dash_duo, monitor_app, user)
    duo.driver.set_window_size(1400, 1000)
    job_id = seed_job(runtime, user["id"], JobStatus.RUNNING, points=20)
    _open(duo, job_id)
    _loaded(duo)
    until(lambda: (_trace_lengths(duo, "mon-loss-graph") or [0])[0] == 20, WAIT, msg="loss chart")
    first = _loss_geometry(duo)
    _assert_loss_chart_fits(duo, "first render")
    assert first["svgHeight"] == pytest.approx(LOSS_CHART_HEIGHT, abs=1)
    panels_height, panel_rows = duo.driver.execute_script(PANELS_BOX_JS)
    assert (panels_height, panel_rows) == (pytest.approx(PANELS_CHART_HEIGHT, abs=1), "2")

    for step in (30, 45, 60):  # several live ticks append points (and move the best-val marker)
        advance(runtime, job_id, step)
        until(lambda s=step: (_trace_lengths(duo, "mon-loss-graph") or [0])[0] == s, WAIT, msg="ticks")
    time.sleep(POLL_SECONDS * 2)
    _assert_loss_chart_fits(duo, "after ticks")

    with runtime.transaction() as session:
        job = session.get(TrainingJob, uuid.UUID(job_id))
        assert job is not None
        assert transition(session, job, JobStatus.COMPLETED, actor="cluster")
    duo.wait_for_text_to_equal("#mon-badge .badge", "Completed", timeout=8)
    time.sleep(POLL_SECONDS * 3)
    after = _loss_geometry(duo)
    _assert_loss_chart_fits(duo, "after completion")
    assert after["svgHeight"] == pytest.approx(LOSS_CHART_HEIGHT, abs=1)
    assert after["graphBottom"] - after["plotBottom"] == pytest.approx(0, abs=1)  # the graph is not collapsed
    assert duo.get_logs() == []


# Everything a tick can change in a figure: each trace's x, y and hover data, and the annotations.
DRAWN_JS = """
const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!g || !g.data) { return null; }
return {
  traces: g.data.map(t => [t.x || [], t.y || [], t.customdata || []]),
  annotations: (g.layout.annotations || []).map(a => [a.x, a.y, a.text]),
};
"""


def test_mon008_live_ticks_draw_what_a_reload_draws(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    """The browser rebuilds each tick's packed patches (assets/monitor_patch.js): after a few ticks
    that add points and move the best-validation marker, the charts equal a fresh full render."""
    job_id = seed_job(runtime, user["id"], JobStatus.RUNNING, points=20)
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    _loaded(duo)
    until(lambda: (_trace_lengths(duo, "mon-loss-graph") or [0])[0] == 20, WAIT, msg="loss chart")
    for step in (30, 45):
        advance(runtime, job_id, step)
        for graph in ("mon-loss-graph", "mon-panels-graph"):
            until(lambda s=step, g=graph: (_trace_lengths(duo, g) or [0])[0] == s, WAIT, msg=f"{graph} tick")
    live = {
        graph: duo.driver.execute_script(DRAWN_JS, graph) for graph in ("mon-loss-graph", "mon-panels-graph")
    }
    assert "@ step 45" in live["mon-loss-graph"]["annotations"][0][2]  # the marker followed the ticks

    duo.driver.refresh()
    _loaded(duo)
    until(lambda: (_trace_lengths(duo, "mon-panels-graph") or [0])[0] == 45, WAIT, msg="reloaded charts")
    for graph, drawn in live.items():
        assert duo.driver.execute_script(DRAWN_JS, graph) == drawn, graph
    assert duo.get_logs() == []


def test_mon009_a_budget_stop_says_why_and_shows_the_budget(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    reason = "Stopped: budget limit $0.25 reached"
    job_id = seed_job(
        runtime,
        user["id"],
        JobStatus.CANCELLED,
        points=5,
        budget_limit=Decimal("0.2500"),
        error_message=reason,
        cancel_requested_at=utcnow(),
    )
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    _loaded(duo)
    assert duo.find_elements("#mon-badge .badge.bg-warning")
    duo.wait_for_text_to_equal(
        f"#{layout.card_detail('cost')}", "final · est. $1.20 · budget $0.25", timeout=5
    )
    duo.driver.find_element("link text", "Activity Log").click()
    duo.wait_for_contains_text("#mon-activity", reason, timeout=5)
    activity = duo.find_element("#mon-activity").text
    assert "Job stopped" in activity
    assert "Job failed" not in activity
    assert duo.find_elements("#mon-activity .alert-warning")
    assert duo.get_logs() == []
