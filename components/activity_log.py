"""The monitor's Activity Log: each job event as one sentence, with who did it and when.

Events arrive as ``services.serialize.event_json`` dicts (``at``, ``kind``, ``from_status``,
``to_status``, ``actor``, ``details``). The actor reads as the user's email or "processor" (the
background cycle, whatever part of it acted: claim, submit, poll, budget, cancel sweep). Each
entry shows its relative time beside the absolute UTC time; the relative text carries
``data-relative-time`` so ``assets/relative_time.js`` keeps it true between server renders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from dash import html

from components.aria import decorative_icon
from components.formatters import format_absolute_time, format_relative_time, parse_money, parse_timestamp
from components.job_status import STATUS_LOOKS, status_icon
from services.costs import format_money

PROCESSOR = "processor"
Event = Mapping[str, Any]


def actor_name(actor: str | None, owner_email: str | None) -> str:
    """``user:<id>`` (the job's owner: only the owner acts on a job) or an email as the user's
    email; anything else (``processor``, ``cluster``, ``system``...) is the processor."""
    text = str(actor or "")
    if "@" in text:
        return text
    if text.startswith("user:"):
        return owner_email or "you"
    return PROCESSOR


def _money(value: Any) -> str | None:
    amount = parse_money(value)
    return format_money(amount) if amount is not None else None


def _cause(details: Mapping[str, Any]) -> str:
    """`` (kind): message`` from a failure's details, or nothing."""
    kind, error = details.get("kind"), details.get("error") or details.get("reason")
    text = f" ({kind})" if kind else ""
    return f"{text}: {error}" if error else text


def _queued(event: Event, who: str, _job: Mapping[str, Any]) -> str:
    estimate = event["details"].get("estimate") or {}
    cost, steps = _money(estimate.get("estimated_total_cost")), estimate.get("total_steps")
    extra = f" (estimated {cost} for {steps:,} steps)" if cost and isinstance(steps, int) else ""
    return f"Job queued by {who}{extra}"


def _status_changed(event: Event, who: str, job: Mapping[str, Any]) -> str:
    details, to_status = event["details"], event.get("to_status")
    if to_status == "initializing":
        return f"Picked up by {who}: preparing the cluster submission"
    if to_status == "running":
        cluster_id = details.get("external_job_id")
        where = f" as {cluster_id}" if cluster_id else ""
        again = " (after a stalled claim)" if details.get("reclaimed") else ""
        return f"Submitted to the cluster{where}{again}: training started (by {who})"
    if to_status == "completed":
        return f"Training completed (reported by {who})"
    if to_status == "failed":
        reason = details.get("error") or details.get("reason") or job.get("error_message")
        return (
            f"Training failed: {reason} (marked by {who})" if reason else f"Training failed (marked by {who})"
        )
    if to_status == "cancelled":
        budget = _money(details.get("budget_limit"))
        if budget:
            spent = _money(job.get("final_cost"))
            at = f" at {spent}" if spent else ""
            return f"Budget limit of {budget} reached{at}: stopped by {who}"
        if details.get("check"):
            return f"{details.get('reason') or 'Stopped by a health check'} (by {who})"
        return f"Cancel requested by {who}"
    return f"Status changed from {event.get('from_status')} to {to_status} by {who}"


def _health_warning(event: Event, who: str, _job: Mapping[str, Any]) -> str:
    details = event["details"]
    step = details.get("step")
    stop = "; the job is stopped" if details.get("action") == "stop" else ""
    return f"Health warning at step {step}: {details.get('message') or details.get('check')}{stop} (by {who})"


def _raw_points_pruned(event: Event, _who: str, _job: Mapping[str, Any]) -> str:
    details = event["details"]
    points, days = details.get("points"), details.get("older_than_days")
    count = f"{points:,} raw metric points" if isinstance(points, int) else "the raw metric points"
    age = f" (the job ended more than {days:g} days earlier)" if isinstance(days, int | float) else ""
    return f"Retention deleted {count}{age}; charts are drawn from rollups"


_SENTENCES: dict[str, Callable[[Event, str, Mapping[str, Any]], str]] = {
    "queued": _queued,
    "health_warning": _health_warning,
    "raw_points_pruned": _raw_points_pruned,
    "status_changed": _status_changed,
    "reclaimed": lambda e, who, _j: f"Claim taken over by {who} after a stalled submission",
    "submit_failed": lambda e, who, _j: (
        f"Submission to the cluster failed{_cause(e['details'])}; {who} retries next cycle"
    ),
    "submitted_after_cancel": lambda e, who, _j: (
        f"The cluster accepted the job after it was cancelled; {who} cancels it there"
    ),
    "cluster_cancel_failed": lambda e, who, _j: (
        f"The cluster has not confirmed the cancel yet{_cause(e['details'])}; {who} retries"
    ),
    "checkpoint_saved": lambda e, who, _j: (
        f"The cluster saved a checkpoint at step {e['details'].get('step')}"
    ),
    "cluster_reconnected": lambda e, who, _j: (
        f"The cluster answers again after {e['details'].get('silent_seconds')} s without a good answer"
        f" (step {e['details'].get('step')})"
    ),
    "cluster_cancel_acknowledged": lambda e, who, _j: (
        "The cluster no longer knew the job: nothing left to stop"
        if e["details"].get("answer") == "unknown to the cluster"
        else f"The cluster confirmed the cancel (sent by {who})"
    ),
}


def event_sentence(event: Event, job: Mapping[str, Any], owner_email: str | None = None) -> str:
    """One plain sentence for ``event`` of ``job`` (API job JSON); an event kind this module does
    not know reads as its name and its details, never as a Python dict."""
    who = actor_name(event.get("actor"), owner_email)
    event = {**event, "details": dict(event.get("details") or {})}
    kind = str(event.get("kind", ""))
    build = _SENTENCES.get(kind)
    if build is None and event.get("to_status"):
        build = _status_changed
    if build is not None:
        return build(event, who, job)
    facts = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(event["details"].items()))
    title = kind.replace("_", " ").strip().capitalize() or "Event"
    return f"{title} by {who}" + (f" ({facts})" if facts else "")


def relative_time(at: datetime, now: datetime, class_name: str = "") -> html.Time:
    """The text "5 min ago", kept true in the browser by ``assets/relative_time.js``."""
    refresh: dict[str, Any] = {"data-relative-time": at.isoformat()}
    return html.Time(format_relative_time(at, now), dateTime=at.isoformat(), className=class_name, **refresh)


def timestamp_pair(at: datetime, now: datetime) -> html.Span:
    """The text "5 min ago · 2026-12-03 17:52:05 UTC"; the relative part refreshes in the browser."""
    return html.Span(
        [
            relative_time(at, now, "activity-log__relative"),
            html.Span(" · ", className="text-body-tertiary"),
            html.Span(format_absolute_time(at), className="activity-log__absolute text-nowrap"),
        ],
        className="small text-body-secondary",
    )


def _entry(event: Event, job: Mapping[str, Any], owner_email: str | None, now: datetime) -> html.Li:
    to_status = event.get("to_status")
    icon = (
        status_icon(str(to_status), f"activity-log__icon status-text--{to_status}")
        if to_status in STATUS_LOOKS
        else decorative_icon("bi-dot", "activity-log__icon text-body-secondary")
    )
    return html.Li(
        [
            icon,
            html.Div(
                [
                    html.Div(event_sentence(event, job, owner_email), className="activity-log__sentence"),
                    timestamp_pair(parse_timestamp(event["at"]), now),
                ],
                className="activity-log__body",
            ),
        ],
        className="activity-log__item",
    )


def activity_log(
    events: list[dict[str, Any]],
    job: Mapping[str, Any],
    owner_email: str | None = None,
    now: datetime | None = None,
) -> html.Div:
    """The job's audit trail, newest first, and the cluster's job id. ``now`` is injectable so the
    output is deterministic in tests. Why a job ended early is the page's alert (``stop_alert``)."""
    current = now or datetime.now(UTC)
    children: list[Any] = []
    if job.get("external_job_id"):
        children.append(
            html.Div(
                ["Cluster job id ", html.Code(job["external_job_id"], className="user-select-all")],
                className="small text-body-secondary mb-2",
            )
        )
    ordered = sorted(events, key=lambda e: parse_timestamp(e["at"]), reverse=True)
    if ordered:
        items = [_entry(e, job, owner_email, current) for e in ordered]
        children.append(html.Ol(items, className="activity-log list-unstyled"))
    else:
        children.append(html.P("No activity yet.", className="text-body-secondary mb-0"))
    return html.Div(children, className="activity")


def _ending_event(events: list[dict[str, Any]], status: str) -> dict[str, Any] | None:
    """The event that moved the job into its terminal ``status`` (the newest such one)."""
    endings = [e for e in events if e.get("to_status") == status]
    return max(endings, key=lambda e: parse_timestamp(e["at"])) if endings else None


def stop_alert(
    job: Mapping[str, Any], events: list[dict[str, Any]], owner_email: str | None, now: datetime
) -> html.Div | None:
    """Why a failed or cancelled job stopped, for the top of the page; None for any other job.

    A failure shows its error text; a budget stop names the limit and the final cost; a user's
    cancel says who asked. The sentence is the ending event's, so the alert and the Activity Log
    cannot disagree; without that event the job's ``error_message`` still says why.
    """
    status = str(job.get("status"))
    if status not in ("failed", "cancelled"):
        return None
    ending = _ending_event(events, status)
    error = job.get("error_message")
    # A health check's stop (services/run_health.py) names its check; its reason is the error text.
    health_stop = status == "cancelled" and bool(ending and ending.get("details", {}).get("check"))
    budget_stop = not health_stop and (
        bool(ending and ending.get("details", {}).get("budget_limit"))
        or (status == "cancelled" and bool(error))
    )
    if status == "failed":
        heading, color, icon = "This job failed", "danger", "bi-x-circle"
    elif health_stop:
        heading, color, icon = "This job was stopped by a health check", "warning", "bi-heart-pulse"
    elif budget_stop:
        heading, color, icon = "This job was stopped at its budget limit", "warning", "bi-cash-coin"
    else:
        heading, color, icon = "This job was cancelled", "secondary", "bi-x-circle"
    sentence = event_sentence(ending, job, owner_email) if ending and not health_stop else None
    body: list[Any] = []
    if status == "failed" and error:
        body.append(html.Pre(str(error), className="activity-error mb-1 mt-2"))
    elif sentence or error:
        body.append(html.Div(sentence or str(error), className="mt-1"))
    step, total = job.get("current_step"), job.get("total_steps")
    facts = [f"at step {int(step):,} of {int(total):,}" if step is not None and total else None]
    ended = ending["at"] if ending else job.get("completed_at")
    return html.Div(
        [
            html.Div([decorative_icon(icon, "me-2"), html.Strong(heading)], className="alert-heading"),
            *body,
            html.Div(
                [
                    html.Span(f"Stopped {facts[0]} · " if facts[0] else "Stopped · "),
                    timestamp_pair(parse_timestamp(ended), now) if ended else None,
                ],
                className="small mt-1",
            ),
        ],
        className=f"alert alert-{color} mb-3",
        role="alert",
    )
