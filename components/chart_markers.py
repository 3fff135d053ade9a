"""Lifecycle markers on the loss chart: evaluations, checkpoints, cancel requested, reconnection
after lost cluster contact, health warnings. Pure: events and the job JSON in, traces out.

Each kind is one trace of points on the x-axis (a hidden second y-axis from 0 to 1 keeps them at the
bottom whatever the loss scale), hover text saying what happened. They read the activity log
(`lora_job_events`) and, for evaluations, the validation series the chart already holds: never a
scan of the points. The monitor's checklist shows or hides each kind in the browser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from components.formatters import parse_timestamp

MARKER_Y = 0.03  # on the hidden 0..1 axis: just above the x-axis


@dataclass(frozen=True)
class MarkerKind:
    label: str  # the checklist's text and the legend's
    symbol: str
    color: str


MARKER_KINDS: dict[str, MarkerKind] = {
    "evaluation": MarkerKind("Evaluations", "line-ns-open", "#6c757d"),
    "checkpoint": MarkerKind("Checkpoints", "square", "#6f42c1"),
    "cancel": MarkerKind("Cancel requested", "x", "#dc3545"),
    "reconnect": MarkerKind("Reconnected", "diamond", "#0aa2c0"),
    "health": MarkerKind("Health warnings", "triangle-up", "#d97706"),
}
EVENT_KINDS = tuple(kind for kind in MARKER_KINDS if kind != "evaluation")


def marker_key(kind: str) -> str:
    """The trace key of a kind in ``components.charts.loss_trace_index``."""
    return f"marker_{kind}"


def _step(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _event_marker(event: Mapping[str, Any], job: Mapping[str, Any]) -> tuple[str, int, str] | None:
    """(kind, step, hover text) for an event that marks the chart, else None."""
    details = event.get("details") or {}
    kind = event.get("kind")
    step = _step(details.get("step"))
    if kind == "checkpoint_saved" and step is not None:
        return "checkpoint", step, f"checkpoint saved · step {step:,}"
    if kind == "cluster_reconnected" and step is not None:
        silent = details.get("silent_seconds")
        after = f" after {silent} s without an answer" if isinstance(silent, int) else ""
        return "reconnect", step, f"cluster answering again{after} · step {step:,}"
    if kind == "health_warning" and step is not None:
        return "health", step, f"{str(details.get('message') or 'health warning')[:300]} · step {step:,}"
    if event.get("to_status") == "cancelled":
        # the cancel ends the job: nothing moves its step afterwards, so the job's step is the cancel's
        step = step if step is not None else _step(job.get("current_step"))
        reason = str(details.get("reason") or "cancel requested")[:200]
        return ("cancel", step, f"cancel requested: {reason} · step {step:,}") if step is not None else None
    return None


def event_markers(
    events: Sequence[Mapping[str, Any]], job: Mapping[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """Each event kind's markers, oldest first: ``{kind: [{step, at, text}]}`` (every kind present)."""
    found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in EVENT_KINDS}
    for event in reversed(events):  # the log is newest first
        marker = _event_marker(event, job)
        if marker is not None:
            kind, step, text = marker
            found[kind].append({"step": step, "at": event.get("at"), "text": text})
    return found


def _minutes(at: str | None, started: str | None) -> float | None:
    when, start = parse_timestamp(at) if at else None, parse_timestamp(started) if started else None
    if when is None or start is None:
        return None
    return round(max((when - start).total_seconds(), 0.0) / 60.0, 4)


def marker_xy(
    markers: Sequence[Mapping[str, Any]], x_axis: str, started_at: str | None
) -> dict[str, list[Any]]:
    """x (step, or minutes since the start), y and text of one kind's trace."""
    xs = [m["step"] if x_axis != "elapsed" else _minutes(m.get("at"), started_at) for m in markers]
    return {"x": xs, "y": [MARKER_Y] * len(markers), "text": [m["text"] for m in markers]}


def marker_trace(kind: str, data: Mapping[str, list[Any]], visible: bool) -> go.Scatter:
    look = MARKER_KINDS[kind]
    return go.Scatter(
        x=data["x"],
        y=data["y"],
        text=data["text"],
        name=look.label,
        mode="markers",
        yaxis="y2",
        visible=visible,
        showlegend=False,
        marker={
            "symbol": look.symbol,
            "size": 11,
            "color": look.color,
            "line": {"width": 2, "color": look.color},
        },
        hovertemplate="%{text}<extra></extra>",
    )


def evaluation_xy(xs: Sequence[Any], steps: Sequence[int]) -> dict[str, list[Any]]:
    """The evaluation markers at the validation points' x positions."""
    return {"x": list(xs), "y": [MARKER_Y] * len(xs), "text": [f"evaluation · step {s:,}" for s in steps]}


MARKER_AXIS: dict[str, Any] = {"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True}
