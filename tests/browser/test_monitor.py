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
    HOLD_TICKS_JS,
    POLL_SECONDS,
    TRACE_LENGTHS_JS,
    UPDATE_REQUESTS_JS,
    advance,
    fast_app,
    metrics_at,
    seed_job,
    start_signed_in,
)
from tests.browser.screens import set_theme

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
    assert "status-look--running" in badge.get_attribute("class")
    assert duo.find_elements("#mon-badge .badge .bi-activity")
    progress = duo.find_element("#mon-progress").text
    for expected in ("20.0%", "Epoch 1 / 2", "Step 20 / 100"):
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
    time.sleep(POLL_SECONDS * 3)  # the one final fetch after the job is seen terminal
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
    assert "status-look--cancelled" in duo.find_element("#mon-badge .badge").get_attribute("class")
    assert "d-none" in duo.find_element("#mon-cancel-wrap").get_attribute("class")
    duo.wait_for_contains_text("#mon-stop", f"Cancel requested by {user['email']}", timeout=5)
    assert _status(runtime, job_id) == "cancelled"
    with runtime.transaction() as session:
        actors = session.scalars(select(JobEvent.actor).where(JobEvent.to_status == "cancelled")).all()
    assert actors == [f"user:{user['id']}"]
    duo.driver.find_element("link text", "Activity Log").click()
    duo.wait_for_contains_text("#mon-activity", f"Cancel requested by {user['email']}", timeout=5)
    assert "{" not in duo.find_element("#mon-activity").text  # sentences, not Python dicts
    assert duo.get_logs() == []


def test_mon003_finished_job_has_no_cancel_no_polling_and_config_tab(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = seed_job(runtime, user["id"], JobStatus.COMPLETED, points=40, progress=100.0, current_step=100)
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    _loaded(duo)
    assert duo.find_element("#mon-badge .badge").text == "Completed"
    assert duo.find_elements("#mon-badge .badge.status-look--completed .bi-check-circle")
    assert duo.find_element("#mon-stop").text == ""  # a completed job needs no explanation
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


def test_mon004_a_failed_job_says_why_on_the_first_view_and_logs_in_sentences(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = seed_job(
        runtime, user["id"], JobStatus.FAILED, points=5, error_message="CUDA out of memory at step 5"
    )
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    _loaded(duo)
    assert duo.find_elements("#mon-badge .badge.status-look--failed .bi-x-circle")
    # the first view, no tab clicked: the reason sits above the tabs, in view
    alert = duo.wait_for_element("#mon-stop .alert-danger", timeout=5)
    assert "This job failed" in alert.text
    assert "CUDA out of memory at step 5" in alert.text
    assert "at step 5 of 100" in alert.text
    assert duo.driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight;",
        alert,
    )
    assert alert.location["y"] < duo.find_element("#mon-tabs").location["y"]
    duo.driver.find_element("link text", "Activity Log").click()
    duo.wait_for_contains_text("#mon-activity", "Submitted to the cluster", timeout=5)
    activity = duo.find_element("#mon-activity").text
    assert "ext-7f3a" in activity
    assert f"Job queued by {user['email']}" in activity
    assert "UTC" in activity  # absolute time beside the relative one
    assert duo.get_logs() == []


def test_mon005_badge_colour_and_icon_per_status(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    # the specification's colours (assets/status.css) as the browser computes them, and its icons
    expected = {
        JobStatus.QUEUED: ("rgb(37, 99, 235)", "rgb(255, 255, 255)", ".bi-clock"),  # blue, clock
        JobStatus.INITIALIZING: ("rgb(234, 179, 8)", "rgb(28, 25, 23)", ".spinner-border"),  # yellow
        JobStatus.RUNNING: ("rgb(34, 197, 94)", "rgb(5, 46, 22)", ".bi-activity"),  # green, activity
        JobStatus.COMPLETED: ("rgb(4, 120, 87)", "rgb(255, 255, 255)", ".bi-check-circle"),  # emerald
        JobStatus.FAILED: ("rgb(220, 38, 38)", "rgb(255, 255, 255)", ".bi-x-circle"),  # red, x
        JobStatus.CANCELLED: ("rgb(107, 114, 128)", "rgb(255, 255, 255)", ".bi-x-circle"),  # gray, x
    }
    jobs = {status: seed_job(runtime, user["id"], status) for status in expected}
    duo = start_signed_in(dash_duo, monitor_app, user)
    for theme in ("light", "dark"):
        for status, (background, text, icon) in expected.items():
            _open(duo, jobs[status])
            duo.wait_for_text_to_equal("#mon-badge .badge", status.value.capitalize(), timeout=8)
            set_theme(duo, theme)
            badge = duo.find_element("#mon-badge .badge")
            assert badge.value_of_css_property("background-color") == _rgba(background), (theme, status)
            assert badge.value_of_css_property("color") == _rgba(text), (theme, status)
            assert duo.find_elements(f"#mon-badge .badge {icon}"), status
            cancel_hidden = "d-none" in duo.find_element("#mon-cancel-wrap").get_attribute("class")
            assert cancel_hidden == status.is_terminal, status
    duo.driver.get(f"{duo.server.url}/training/jobs")  # the jobs list draws the same badges
    duo.wait_for_element("#jobs-page .jobs-row", timeout=8)
    colours = duo.driver.execute_script(
        "return [...document.querySelectorAll('#jobs-page .status-badge')].map("
        "b => getComputedStyle(b).backgroundColor);"
    )
    assert set(colours) == {background for background, _text, _icon in expected.values()}
    assert duo.get_logs() == []


def _rgba(rgb: str) -> str:
    """Selenium's form of an opaque computed colour: ``rgb(1, 2, 3)`` as ``rgba(1, 2, 3, 1)``."""
    return rgb.replace("rgb(", "rgba(").replace(")", ", 1)")


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
    """The browser applies each tick's figure patches: after a few ticks
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
    assert duo.find_elements("#mon-badge .badge.status-look--cancelled")
    duo.wait_for_text_to_equal(
        f"#{layout.card_detail('cost')}", "final · est. $1.20 · budget $0.25", timeout=5
    )
    alert = duo.wait_for_element("#mon-stop .alert-warning", timeout=5)  # first view, above the tabs
    assert "This job was stopped at its budget limit" in alert.text
    assert reason in alert.text
    assert "failed" not in alert.text
    assert duo.get_logs() == []


def test_mon010_the_validation_card_shows_the_latest_evaluation_while_running(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    """Evaluations come every 5 steps; the cycle's current metrics have none at step 22."""
    no_eval = {**metrics_at(22), "validation_loss": None}
    job_id = seed_job(runtime, user["id"], JobStatus.RUNNING, points=22, current_metrics=no_eval)
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    _loaded(duo)
    card, detail = f"#{layout.card_value('validation_loss')}", f"#{layout.card_detail('validation_loss')}"
    duo.wait_for_text_to_equal(card, format_loss(metrics_at(20)["validation_loss"]), timeout=5)
    assert duo.find_element(detail).text == "step 20 · best so far"
    advance(runtime, job_id, 24)  # no evaluation at 21..24: the card keeps step 20
    with runtime.transaction() as session:  # as the cycle stores it: the newest point's values
        job = session.get(TrainingJob, uuid.UUID(job_id))
        assert job is not None
        job.current_metrics = {**metrics_at(24), "validation_loss": None}
    duo.wait_for_contains_text("#mon-progress", "Step 24 / 100", timeout=8)
    assert duo.find_element(card).text == format_loss(metrics_at(20)["validation_loss"])
    advance(runtime, job_id, 26)  # step 25 is evaluated
    duo.wait_for_text_to_equal(detail, "step 25 · best so far", timeout=8)
    assert duo.find_element(card).text == format_loss(metrics_at(25)["validation_loss"])
    assert duo.get_logs() == []


def test_mon011_a_cancel_draws_the_final_points_before_the_page_stops_polling(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    """Points stored after the last tick and before the cancel still reach the charts."""
    job_id = seed_job(runtime, user["id"], JobStatus.RUNNING, points=20)
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    _loaded(duo)
    until(lambda: (_trace_lengths(duo, "mon-loss-graph") or [0])[0] == 20, WAIT, msg="loss chart")
    duo.driver.execute_script(HOLD_TICKS_JS, True)  # no tick between the new points and the cancel
    time.sleep(POLL_SECONDS * 2)  # let a tick already in flight land
    advance(runtime, job_id, 30)
    duo.find_element("#mon-cancel-open").click()
    duo.wait_for_element("#mon-cancel-confirm").click()
    duo.wait_for_text_to_equal("#mon-badge .badge", "Cancelled", timeout=8)
    assert (_trace_lengths(duo, "mon-loss-graph") or [0])[0] == 20  # not drawn yet: no tick ran
    duo.driver.execute_script(UPDATE_REQUESTS_JS)
    duo.driver.execute_script(HOLD_TICKS_JS, False)
    until(lambda: (_trace_lengths(duo, "mon-loss-graph") or [0])[0] == 30, WAIT, msg="final points")
    assert _trace_lengths(duo, "mon-panels-graph") == [30, 30, 30, 30]
    assert duo.find_element("#mon-progress").text.endswith("Step 30 / 100")
    time.sleep(POLL_SECONDS * 2)
    before = duo.driver.execute_script(UPDATE_REQUESTS_JS)
    time.sleep(POLL_SECONDS * 4)
    assert duo.driver.execute_script(UPDATE_REQUESTS_JS) == before  # then the interval stopped
    assert duo.get_logs() == []


def test_mon012_relative_times_stay_true_on_a_page_that_no_longer_polls(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = seed_job(runtime, user["id"], JobStatus.COMPLETED, points=5, progress=100.0)
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    _loaded(duo)
    duo.driver.find_element("link text", "Activity Log").click()
    duo.wait_for_contains_text("#mon-activity", "Job queued by", timeout=5)
    first = duo.find_element("#mon-activity .activity-log__relative").text
    assert first.endswith("ago") or first == "just now"
    # what assets/relative_time.js does every 20 s, with the clock an hour ahead
    duo.driver.execute_script("window.pipelineRelativeTime.refresh(Date.now() + 3600 * 1000);")
    texts = [el.text for el in duo.find_elements("#mon-activity .activity-log__relative")]
    assert set(texts) == {"1 h ago"}, texts
    assert duo.find_element("#mon-subtitle time").text == "1 h ago"
    assert duo.get_logs() == []
