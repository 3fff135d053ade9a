"""The monitor's run-health warnings: drawn on load and whenever the job's events change, and the
"Stop now" beside each warning (the budget stop's cancel path, reason "Stopped: <check title>").

Its own callbacks on the view state the render and tick callbacks already write, registered by
page.py like the adapter card's (a helper module's decorator would reach only the first app a
process builds); the alerts are built by components/health_view.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
from dash import ctx

from api.runtime import get_runtime
from components.health_view import health_alerts
from jobs.cancels import cancel_on_cluster_now
from pages._signed_in import signed_in_user_id
from pages.monitor.data import own_job
from services.health import check_title
from services.run_health import health_warnings, stop_now
from services.serialize import event_json
from services.training_jobs import get_job_for_user


def read_health(job_id: str | None) -> tuple[list[tuple[dict[str, Any], str]], bool]:
    """The signed-in user's job's warnings with their check titles, and whether it still runs."""
    with own_job(job_id) as found:
        if found is None:
            return [], False
        session, _user_id, job = found
        warnings = [
            (event_json(event), check_title(str(event.details.get("check"))))
            for event in health_warnings(session, job.id)
        ]
        return warnings, job.status == "running"


def show_health(view_state: dict[str, Any] | None, job_id: str | None) -> Any:
    if not isinstance(view_state, dict) or not isinstance(job_id, str):
        return None
    warnings, running = read_health(job_id)
    return health_alerts(warnings, running=running)


def stop_from_warning(clicks: list[int | None], job_id: str | None) -> Any:
    """Stop the job for the clicked warning's check; the next tick shows it cancelled."""
    triggered = ctx.triggered_id
    if not isinstance(triggered, dict) or not any(clicks) or not isinstance(job_id, str):
        return dash.no_update
    user_id = signed_in_user_id()
    if user_id is None:
        return dash.no_update
    runtime = get_runtime()
    now = datetime.now(UTC)
    with runtime.transaction() as session:
        job = get_job_for_user(session, user_id, job_id)
        stopped = job is not None and stop_now(session, user_id, job.id, str(triggered.get("check")), now=now)
        found = job.id if job is not None else None
    if stopped and found is not None:
        cancel_on_cluster_now(runtime.sessions, runtime.settings, found, now=now)  # as the Cancel button does
    warnings, running = read_health(job_id)
    return health_alerts(warnings, running=running)
