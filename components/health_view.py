"""Pure builders for the monitor's run-health warnings: one alert per fired check, with the numbers
that tripped it and a "Stop now" button while the job runs (pages/monitor/health.py wires them)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from components.aria import aria

STOP_NOW = "mon-health-stop"  # pattern-matching id type: {"type": STOP_NOW, "check": <check id>}


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def evidence_list(evidence: dict[str, Any]) -> html.Dl:
    """The numbers that tripped a check, as a compact definition list."""
    items: list[Any] = []
    for key, value in evidence.items():
        items += [
            html.Dt(key.replace("_", " ").capitalize(), className="col-sm-5 fw-normal text-body-secondary"),
            html.Dd(_number(value), className="col-sm-7 mb-0 font-monospace"),
        ]
    return html.Dl(items, className="row small mb-0 mt-2 health-evidence")


def health_alert(warning: dict[str, Any], title: str, *, running: bool) -> dbc.Alert:
    """One fired check: its title and step, the sentence, the evidence, and "Stop now" if running."""
    details = warning.get("details") or {}
    check = str(details.get("check", ""))
    stop = dbc.Button(
        [html.I(className="bi bi-stop-circle me-1", **aria(hidden=True)), "Stop now"],
        id={"type": STOP_NOW, "check": check},
        color="danger",
        size="sm",
        className="ms-auto flex-shrink-0",
    )
    action = " (the job was stopped)" if details.get("action") == "stop" else ""
    header = html.Div(
        [
            html.Div(
                [
                    html.I(className="bi bi-exclamation-triangle-fill me-2", **aria(hidden=True)),
                    html.Strong(title),
                    html.Span(f" at step {_number(details.get('step'))}{action}", className="small"),
                ]
            ),
            stop if running else None,
        ],
        className="d-flex align-items-start gap-2",
    )
    return dbc.Alert(
        [
            header,
            html.Div(str(details.get("message", "")), className="mt-1"),
            evidence_list(details.get("evidence") or {}),
        ],
        color="warning",
        className="mb-2 health-warning",
        id={"type": "mon-health-alert", "check": check},
    )


def health_alerts(warnings: list[tuple[dict[str, Any], str]], *, running: bool) -> list[dbc.Alert] | None:
    """Every fired check of a job, oldest first: (event JSON, check title) pairs; None if none."""
    if not warnings:
        return None
    return [health_alert(warning, title, running=running) for warning, title in warnings]
