"""The Activity Log and the stop alert: sentences, not dicts; the actor by email or "processor"."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import plotly.utils
import pytest

from components.activity_log import activity_log, actor_name, event_sentence, stop_alert

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
OWNER = "ann@example.com"
JOB: dict[str, Any] = {
    "status": "running",
    "external_job_id": "ext-1",
    "current_step": 40,
    "total_steps": 100,
}


def _event(
    event_kind: str,
    actor: str = "processor",
    to: str | None = None,
    at: str = "2026-01-01T11:55:00Z",
    frm: str | None = None,
    **details: Any,
) -> dict[str, Any]:
    return {"id": 1, "at": at, "kind": event_kind, "from_status": frm, "to_status": to, "actor": actor,
            "details": details}  # fmt: skip


def _text(component: Any) -> str:
    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder)


def test_the_actor_is_the_users_email_or_the_processor() -> None:
    assert actor_name("user:7", OWNER) == OWNER
    assert actor_name("bob@example.com", OWNER) == "bob@example.com"
    for actor in ("processor", "cluster", "callback", "system", None):
        assert actor_name(actor, OWNER) == "processor"


@pytest.mark.parametrize(
    ("event", "job", "sentence"),
    [
        (_event("status_changed", "user:7", "cancelled", frm="running", reason="cancelled by the user"),
         JOB, "Cancel requested by ann@example.com"),
        (_event("status_changed", to="cancelled", frm="running", budget_limit="5.0000",
                reason="Stopped: budget limit $5.00 reached"),
         {**JOB, "final_cost": "5.0000"}, "Budget limit of $5.00 reached at $5.00: stopped by processor"),
        (_event("queued", "user:7", "queued", estimate={"estimated_total_cost": "1.2000", "total_steps": 100}),
         JOB, "Job queued by ann@example.com (estimated $1.20 for 100 steps)"),
        (_event("status_changed", to="initializing", frm="queued"), JOB,
         "Picked up by processor: preparing the cluster submission"),
        (_event("status_changed", to="running", frm="initializing", external_job_id="ext-1"), JOB,
         "Submitted to the cluster as ext-1: training started (by processor)"),
        (_event("status_changed", "cluster", "failed", frm="running", error="CUDA out of memory"), JOB,
         "Training failed: CUDA out of memory (marked by processor)"),
        (_event("status_changed", "cluster", "completed", frm="running"), JOB,
         "Training completed (reported by processor)"),
        (_event("submit_failed", kind="timeout", error="no answer in 10 s", will_retry=True), JOB,
         "Submission to the cluster failed (timeout): no answer in 10 s; processor retries next cycle"),
        (_event("cluster_cancel_acknowledged", answer="acknowledged"), JOB,
         "The cluster confirmed the cancel (sent by processor)"),
        (_event("raw_points_pruned", "operator", points=12000, older_than_days=30.0), JOB,
         "Retention deleted 12,000 raw metric points (the job ended more than 30 days earlier); "
         "charts are drawn from rollups"),
        (_event("brand_new_kind", "system", limit=3), JOB, "Brand new kind by processor (limit: 3)"),
    ],
)  # fmt: skip
def test_each_event_reads_as_a_sentence(event: dict[str, Any], job: dict[str, Any], sentence: str) -> None:
    assert event_sentence(event, job, OWNER) == sentence


def test_log_is_newest_first_with_relative_and_absolute_times_and_no_dicts() -> None:
    events = [
        _event("status_changed", to="running", frm="initializing", at="2026-01-01T11:00:00Z"),
        _event("status_changed", "user:7", "cancelled", frm="running", reason="cancelled by the user"),
    ]
    text = _text(activity_log(events, JOB, OWNER, NOW))
    assert text.index("Cancel requested by ann@example.com") < text.index("training started")
    for expected in ("5 min ago", "2026-01-01 11:55:00 UTC", "1 h ago", "2026-01-01 11:00:00 UTC", "ext-1"):
        assert expected in text
    assert '"data-relative-time": "2026-01-01T11:55:00+00:00"' in text  # the browser keeps it true
    assert "{" not in "".join(event_sentence(e, JOB, OWNER) for e in events)
    assert "No activity yet." in _text(activity_log([], {}, OWNER, NOW))


def test_stop_alert_says_why_a_job_failed_or_stopped_and_nothing_for_others() -> None:
    failed_job = {**JOB, "status": "failed", "error_message": "CUDA out of memory at step 40"}
    failed = _text(stop_alert(failed_job, [_event("status_changed", to="failed", frm="running")], OWNER, NOW))
    assert "This job failed" in failed and "CUDA out of memory at step 40" in failed  # noqa: PT018
    assert "alert-danger" in failed and "at step 40 of 100" in failed  # noqa: PT018
    budget_job = {**JOB, "status": "cancelled", "final_cost": "5.0000", "error_message": "Stopped: budget"}
    budget_event = _event("status_changed", to="cancelled", frm="running", budget_limit="5.0000")
    budget = _text(stop_alert(budget_job, [budget_event], OWNER, NOW))
    assert "stopped at its budget limit" in budget and "alert-warning" in budget  # noqa: PT018
    assert "Budget limit of $5.00 reached at $5.00: stopped by processor" in budget
    user_event = _event("status_changed", "user:7", "cancelled", frm="running")
    cancelled = _text(stop_alert({**JOB, "status": "cancelled"}, [user_event], OWNER, NOW))
    assert "Cancel requested by ann@example.com" in cancelled and "5 min ago" in cancelled  # noqa: PT018
    for status in ("queued", "running", "completed"):
        assert stop_alert({**JOB, "status": status}, [], OWNER, NOW) is None
