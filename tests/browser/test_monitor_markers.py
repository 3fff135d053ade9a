"""The loss chart's lifecycle markers in headless Chromium: a health warning (written as the health
checks write it) shows as a marker at its step with its message on hover, a new event arrives with a
tick, and the checklist hides and shows each kind without a request."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from dash.testing.wait import until

from api.runtime import Runtime
from components.chart_markers import marker_key
from components.charts import loss_trace_index
from db.models import JobStatus, TrainingJob
from settings import Settings
from tests.browser.monitor_support import advance, fast_app, seed_job, start_signed_in
from tests.factories import add_event

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

MARKER_JS = """
const g = document.querySelector('#mon-loss-graph .js-plotly-plot');
if (!g || !g.data) { return null; }
const t = g.data[arguments[0]];
if (!t) { return null; }
return {x: Array.from(t.x || []), text: Array.from(t.text || []), visible: t.visible};
"""


@pytest.fixture
def monitor_app(settings: Settings, runtime: Runtime) -> Any:
    return fast_app(settings, runtime)


def _warn(runtime: Runtime, job_id: str, step: int, message: str) -> None:
    with runtime.transaction() as session:
        job = session.get(TrainingJob, uuid.UUID(job_id))
        assert job is not None
        details = {"check": "loss_spike", "step": step, "message": message, "evidence": {}, "action": "warn"}
        add_event(session, job, "health_warning", actor="processor", details=details)


def _marker(duo: Any, kind: str) -> dict[str, Any]:
    """The kind's trace as drawn ({} before the first render, whose figure has no traces yet)."""
    result: dict[str, Any] | None = duo.driver.execute_script(MARKER_JS, loss_trace_index()[marker_key(kind)])
    return result or {}


def test_mon_mk001_health_warning_and_checkpoint_markers_live_and_toggled(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = seed_job(runtime, user["id"], JobStatus.RUNNING, points=30)
    _warn(runtime, job_id, 12, "Training loss above 3× its minimum for 5 steps")
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    until(lambda: _marker(duo, "health").get("x") == [12], timeout=10)
    assert _marker(duo, "health")["text"] == ["Training loss above 3× its minimum for 5 steps · step 12"]
    assert _marker(duo, "evaluation")["x"] == [5, 10, 15, 20, 25, 30]  # steps with a validation loss

    # an event and new points arrive between ticks: the next tick draws both
    with runtime.transaction() as session:
        job = session.get(TrainingJob, uuid.UUID(job_id))
        assert job is not None
        add_event(
            session, job, "checkpoint_saved", actor="processor", details={"step": 30, "uri": "s3://c/30"}
        )
    advance(runtime, job_id, 35)
    until(lambda: _marker(duo, "checkpoint").get("x") == [30], timeout=10)
    until(lambda: _marker(duo, "evaluation")["x"][-1] == 35, timeout=10)

    # the checklist hides a kind (in the browser: assets/monitor_patch.js)
    box = duo.find_element("#mon-markers input[value='health']")
    duo.driver.execute_script("arguments[0].click();", box)
    until(lambda: _marker(duo, "health")["visible"] is False, timeout=5)
    assert _marker(duo, "checkpoint")["visible"] is True
    duo.driver.execute_script("arguments[0].click();", box)
    until(lambda: _marker(duo, "health")["visible"] is True, timeout=5)
    assert duo.get_logs() == []
