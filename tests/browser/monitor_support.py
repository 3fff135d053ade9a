"""Shared set-up for the monitor and jobs-list browser tests: a fast-polling app and seeded jobs.

UI_POLL_SECONDS is 0.5 s here so "updates automatically" and "makes no further requests" are
observable within a couple of seconds; everything else is the production app on PostgreSQL.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from api.runtime import Runtime
from app import create_app
from db.base import utcnow
from db.models import JobStatus, TrainingJob
from settings import Settings
from tests.factories import (
    DEFAULT_HYPERPARAMETERS,
    add_event,
    add_metric_points,
    make_dataset,
    make_job,
    synthetic_metrics,
)
from tests.fixtures.browser import sign_in_browser
from tests.ports import free_port

POLL_SECONDS = 0.5
SECONDS_PER_STEP = 2.0
DATASET_NAME = "support-chats"

# Counts this page's callback requests from the moment it is first run, leaving out the navbar
# bell's own poll (it runs on every page, by design, whatever the job's state).
UPDATE_REQUESTS_JS = """
if (window.__pageUpdates === undefined) {
  window.__pageUpdates = 0;
  const original = window.fetch;
  window.fetch = function (url, options) {
    const body = options && typeof options.body === 'string' ? options.body : '';
    if (String(url).includes('_dash-update-component') && !body.includes('navbar-bell')) {
      window.__pageUpdates += 1;
    }
    return original.apply(this, arguments);
  };
}
return window.__pageUpdates;
"""
# While window.__holdTicks is true, the monitor's interval ticks are answered in the browser with
# Dash's "nothing to update" (204), as if they had not run: a test can then make something happen
# between two ticks deterministically. Other callbacks (cancel, the navbar bell) go through.
HOLD_TICKS_JS = """
if (!window.__tickHoldInstalled) {
  window.__tickHoldInstalled = true;
  const original = window.fetch;
  window.fetch = function (url, options) {
    const body = options && typeof options.body === 'string' ? options.body : '';
    if (window.__holdTicks && String(url).includes('_dash-update-component')
        && body.includes('"changedPropIds":["mon-interval.n_intervals"]')) {
      return Promise.resolve(new Response(null, {status: 204}));
    }
    return original.apply(this, arguments);
  };
}
window.__holdTicks = arguments[0];
"""
TRACE_LENGTHS_JS = (
    "const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
    "return g && g.data ? g.data.map(t => (t.x || []).length) : null;"
)


def fast_app(settings: Settings, runtime: Runtime) -> Any:
    fast = replace(settings, ui_poll_seconds=POLL_SECONDS)
    runtime.settings = fast
    app = create_app(fast, runtime=runtime)
    app.server.config["TESTING"] = True
    return app


def start_signed_in(dash_duo: Any, app: Any, user: dict[str, Any], next_path: str = "/training/jobs") -> Any:
    dash_duo.start_server(app, navigate=False, port=free_port())
    sign_in_browser(dash_duo, user["email"], user["password"], next_path=next_path)
    return dash_duo


def seed_job(
    runtime: Runtime,
    user_id: int,
    status: JobStatus,
    *,
    points: int = 0,
    dataset_name: str = DATASET_NAME,
    **overrides: Any,
) -> str:
    """A job in `status` with `points` metric rows, the usual events and consistent numbers."""
    now = utcnow()
    total_steps = int(overrides.get("total_steps", 100))
    running_for = timedelta(seconds=points * SECONDS_PER_STEP + 10)
    started = None if status in (JobStatus.QUEUED, JobStatus.INITIALIZING) else now - running_for
    values: dict[str, Any] = {
        "status": status,
        "started_at": started,
        "total_epochs": 2,
        "total_steps": total_steps,
        "current_step": points,
        "current_epoch": 1 if points else 0,
        "progress": 100.0 * points / total_steps,
        "current_cost": Decimal("0.0500") if started else Decimal(0),
        "external_job_id": "ext-7f3a" if started else None,
    }
    if points:
        values["current_metrics"] = metrics_at(points, total_steps)
    if status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
        values.update(completed_at=now, final_cost=Decimal("0.2345"), current_cost=Decimal("0.2345"))
    values.update(overrides)
    values["hyperparameters"] = {**DEFAULT_HYPERPARAMETERS, "epochs": values["total_epochs"]}
    with runtime.transaction() as session:
        dataset = make_dataset(session, user_id, name=dataset_name)
        job = make_job(session, user_id, dataset.id, **values)
        add_event(
            session,
            job,
            "queued",
            to_status="queued",
            actor=f"user:{user_id}",
            at=now - timedelta(seconds=200),
        )
        if started:
            add_event(session, job, "status_changed", from_status="queued", to_status="running", at=started)
        if points:
            add_metric_points(session, job, range(1, points + 1), seconds_per_step=SECONDS_PER_STEP)
        return str(job.id)


def metrics_at(step: int, total_steps: int = 100) -> dict[str, float]:
    """`current_metrics` as the cycle stores them: the values of the point at `step`."""
    return synthetic_metrics(step, total_steps)


def advance(runtime: Runtime, job_id: str, to_step: int) -> None:
    """What the cycle does after a poll: new points, progress, epoch, step and current metrics."""
    with runtime.transaction() as session:
        job = session.get(TrainingJob, uuid.UUID(job_id))
        assert job is not None
        first = job.current_step + 1
        add_metric_points(session, job, range(first, to_step + 1), seconds_per_step=SECONDS_PER_STEP)
        job.current_step = to_step
        job.progress = 100.0 * to_step / job.total_steps
        job.current_epoch = 1 + (to_step >= 50)
        job.current_metrics = metrics_at(to_step, job.total_steps)
