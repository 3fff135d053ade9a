"""The monitor's callback values without a browser: full render vs tick, what a tick re-sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import plotly
import pytest
from dash import no_update

from components.job_status import progress_style
from components.live_charts import ChartOptions
from components.monitor_numbers import points_after, progress_parts
from pages.monitor.data import MonitorSnapshot
from pages.monitor.views import (
    charts_match,
    full_charts,
    join_state,
    split_state,
    status_values,
    tick_since_step,
    tick_values,
)
from pages.monitor.views import render_numbers as numbers_for
from services.downsample import build_metrics_payload

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
STARTED = NOW - timedelta(seconds=400)
OPTIONS: ChartOptions = {
    "smoothing": 0.6,
    "log_y": False,
    "x_axis": "step",
    "dark": False,
    "steps_per_epoch": 100.0,
}


def _rows(first: int, last: int) -> list[tuple[Any, ...]]:
    return [
        (
            step,
            STARTED.timestamp() + 2.0 * step,
            1.0 / step,
            1.1 / step if step % 5 == 0 else None,
            2e-4,
            1.0,
            3000.0,
            90.0,
        )
        for step in range(first, last + 1)
    ]


def _snap(
    rows: list[tuple[Any, ...]], status: str = "running", events: int = 2, **job: Any
) -> MonitorSnapshot:
    doc: dict[str, Any] = {
        "id": "0b7e4f7a-1111-4222-8333-944445555666",
        "name": None,
        "status": status,
        "progress": 20.0,
        "current_epoch": 1,
        "total_epochs": 2,
        "current_step": rows[-1][0] if rows else 0,
        "total_steps": 200,
        "current_metrics": {"training_loss": 0.05},
        "estimated_total_cost": "1.2000",
        "current_cost": "0.1000",
        "final_cost": None,
        "started_at": STARTED.isoformat(),
        "completed_at": None,
        "error_message": None,
        "external_job_id": "ext-1",
        **job,
    }
    log: list[dict[str, Any]] = [
        {
            "id": i,
            "at": (STARTED + timedelta(seconds=i)).isoformat(),
            "kind": "status_changed",
            "actor": "system",
            "from_status": None,
            "to_status": "running",
            "details": {},
        }
        for i in range(events, 0, -1)
    ]
    metrics = build_metrics_payload(rows, 1000, STARTED.timestamp())
    return MonitorSnapshot(job=doc, events=log, metrics=metrics, dataset=None, hourly_rate=Decimal("7.00"))


def test_a_quiet_tick_sends_only_small_texts() -> None:
    first = _snap(_rows(1, 40))
    charts, window = full_charts(first, OPTIONS)
    shown = status_values(first, numbers_for(first, charts["chart_state"], window, NOW), NOW)["view_state"]
    state = join_state(charts["chart_state"], charts["chart_options"])
    since = tick_since_step(state, charts["eta_from"])
    assert charts["eta_from"] == 30
    assert since == 29  # re-reads the 11-point ETA window (steps 30..40), not all history

    tick = tick_values(_snap(_rows(since + 1, 40)), state, charts["eta_from"], shown, NOW)
    assert tick["loss_figure"] is no_update  # neither figure changes
    assert tick["panels_figure"] is no_update
    for unchanged in (
        "badge",
        "cancel_wrap",
        "interval_disabled",
        "activity",
        "view_state",
        "chart_state",
        "eta_from",
    ):
        assert tick[unchanged] is no_update, unchanged
    sent = {k: v for k, v in tick.items() if v is not no_update}
    assert len(json.dumps(sent, cls=plotly.utils.PlotlyJSONEncoder)) < 700


def test_a_tick_with_new_points_appends_only_points_after_the_cursor() -> None:
    first = _snap(_rows(1, 40))
    charts, _window = full_charts(first, OPTIONS)
    state = join_state(charts["chart_state"], charts["chart_options"])
    assert "options" not in charts["chart_state"]  # fixed per render: not resent by every tick
    since = tick_since_step(state, charts["eta_from"])
    tick = tick_values(_snap(_rows(since + 1, 50)), state, charts["eta_from"], None, NOW)
    ops = tick["loss_figure"].to_plotly_json()["operations"]
    training_x = next(op for op in ops if op["location"] == ["data", 0, "x"])
    assert training_x["params"]["value"] == list(range(41, 51))  # no re-drawn overlap
    assert tick["chart_state"]["last_step"] == 50
    assert tick["eta_from"] == 40
    assert tick["eta_value"] != "—"


def test_status_change_switches_badge_cancel_interval_and_progress_style() -> None:
    running = _snap(_rows(1, 10))
    shown = status_values(running, numbers_for(running, None, [], NOW), NOW)["view_state"]
    done = _snap(
        _rows(1, 10), status="completed", events=3, final_cost="0.5000", completed_at=NOW.isoformat()
    )
    values = status_values(done, numbers_for(done, None, [], NOW), NOW, shown)
    assert values["interval_disabled"] is False  # stops after one more tick (see below)
    assert values["cancel_wrap"] == "d-none"
    assert values["progress_class"] == "monitor-progress status-look--completed"
    assert values["progress_striped"] is False
    assert values["activity"] is not no_update
    assert values["cost_value"] == "$0.50"


def test_points_after_drops_the_overlap_per_series_and_elapsed() -> None:
    payload = build_metrics_payload(_rows(1, 20), 1000, STARTED.timestamp())
    newer = points_after(payload, 15)
    assert newer["series"]["training_loss"]["step"] == [16, 17, 18, 19, 20]
    assert newer["series"]["validation_loss"]["step"] == [20]
    assert newer["elapsed"]["step"] == [16, 17, 18, 19, 20]
    assert points_after(payload, 20)["last_step"] is None
    assert points_after(payload, None) is payload


def test_progress_parts_and_style() -> None:
    job = {"progress": 42.6, "current_epoch": 1, "total_epochs": 3, "current_step": 1200, "total_steps": 3000}
    assert progress_parts(job) == {
        "value": 42.6,
        "label": "42.6%",
        "epoch": "Epoch 1 / 3",
        "step": "Step 1,200 / 3,000",
    }
    assert progress_parts({"progress": 150})["value"] == 100.0
    assert progress_style("running") == ("status-look--running", True)
    assert progress_style("failed") == ("status-look--failed", False)


def test_split_and_join_state_round_trip_and_drop_redundant_cursors() -> None:
    charts, _window = full_charts(_snap(_rows(1, 42)), OPTIONS)
    cursor, options = charts["chart_state"], charts["chart_options"]
    assert cursor["series_last_step"] == {"validation_loss": 40}  # the others equal last_step (42)
    state = join_state(cursor, options)
    assert state["series_last_step"]["training_loss"] == 42
    assert state["series_last_step"]["validation_loss"] == 40
    assert split_state(state) == (cursor, options)
    empty, _ = full_charts(_snap([]), OPTIONS)
    assert join_state(empty["chart_state"], empty["chart_options"])["series_last_step"]["throughput"] is None


def test_a_tick_during_a_redraw_leaves_the_charts_alone() -> None:
    charts, _window = full_charts(_snap(_rows(1, 40)), OPTIONS)
    stored = charts["chart_options"]
    assert charts_match(stored, OPTIONS)
    assert not charts_match(stored, {**OPTIONS, "log_y": True})
    assert not charts_match(stored, {**OPTIONS, "dark": True})
    state = join_state(charts["chart_state"], stored)
    tick = tick_values(_snap(_rows(30, 50)), state, charts["eta_from"], None, NOW, redrawing=True)
    for chart_output in ("loss_figure", "panels_figure", "chart_state", "eta_from"):
        assert tick[chart_output] is no_update, chart_output
    assert tick["progress_step"] == "Step 50 / 200"  # the texts still follow the job


def test_a_budget_stop_shows_its_reason_and_the_budget_when_the_tick_sees_it() -> None:
    running = _snap(_rows(1, 10), budget_limit="0.5000")
    shown = status_values(running, numbers_for(running, None, [], NOW), NOW)["view_state"]
    stopped = _snap(
        _rows(1, 10),
        status="cancelled",
        events=3,
        final_cost="0.4900",
        budget_limit="0.5000",
        completed_at=NOW.isoformat(),
        error_message="Stopped: budget limit $0.50 reached",
    )
    values = status_values(stopped, numbers_for(stopped, None, [], NOW), NOW, shown)
    alert = json.dumps(values["stop_alert"], cls=plotly.utils.PlotlyJSONEncoder)
    assert "stopped at its budget limit" in alert
    assert "Stopped: budget limit $0.50 reached" in alert
    assert "failed" not in alert
    assert "alert-warning" in alert
    assert values["cost_value"] == "$0.49"
    assert values["cost_detail"] == "final · est. $1.20 · budget $0.50"
    assert values["interval_disabled"] is False  # one more tick draws the last points


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_every_terminal_status_stops_polling_one_tick_after_it_is_seen_and_on_a_fresh_render(
    status: str,
) -> None:
    running = _snap(_rows(1, 10))
    shown = status_values(running, numbers_for(running, None, [], NOW), NOW)["view_state"]
    assert status_values(running, numbers_for(running, None, [], NOW), NOW)["interval_disabled"] is False
    ended = _snap(
        _rows(1, 10),
        status=status,
        events=3,
        final_cost="0.5000",
        completed_at=NOW.isoformat(),
        error_message="CUDA out of memory" if status == "failed" else None,
    )
    first_sight = status_values(ended, numbers_for(ended, None, [], NOW), NOW, shown)
    assert first_sight["interval_disabled"] is False  # the final fetch is still to come
    final_fetch = status_values(ended, numbers_for(ended, None, [], NOW), NOW, first_sight["view_state"])
    assert final_fetch["interval_disabled"] is True
    render = status_values(ended, numbers_for(ended, None, [], NOW), NOW)
    assert render["interval_disabled"] is True  # a full render read every point at once
    for values in (first_sight, render):
        assert values["cancel_wrap"] == "d-none"
        assert values["progress_striped"] is False


@pytest.mark.parametrize("status", ["queued", "initializing", "running"])
def test_an_active_job_keeps_polling_and_can_be_cancelled(status: str) -> None:
    snap = _snap(_rows(1, 10), status=status)
    values = status_values(snap, numbers_for(snap, None, [], NOW), NOW)
    assert values["interval_disabled"] is False
    assert values["cancel_wrap"] == ""
