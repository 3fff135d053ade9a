"""Pure Dash/dbc builders for the job monitor: status badge, configuration table, activity log.

No callbacks and no data access: each function takes plain values and returns components, so
the page callback stays thin and every piece is unit-tested. Colours come from Bootstrap's
semantic classes (``text-body-secondary``, ``bg-body-tertiary``) so light and dark themes both
read well; the few extra rules live in ``assets/monitor.css``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import dash_bootstrap_components as dbc
from dash import html

from components.aria import decorative_icon
from components.formatters import (
    MISSING,
    format_absolute_time,
    format_relative_time,
    parse_money,
    parse_timestamp,
)
from services.costs import format_money


class StatusStyle(NamedTuple):
    color: str  # Bootstrap contextual colour of the badge
    icon: str  # bootstrap-icons class
    label: str


STATUS_STYLES: dict[str, StatusStyle] = {
    "queued": StatusStyle("secondary", "bi-hourglass-split", "Queued"),
    "initializing": StatusStyle("info", "bi-gear", "Initializing"),
    "running": StatusStyle("primary", "bi-play-circle", "Running"),
    "completed": StatusStyle("success", "bi-check-circle", "Completed"),
    "failed": StatusStyle("danger", "bi-x-octagon", "Failed"),
    "cancelled": StatusStyle("warning", "bi-slash-circle", "Cancelled"),
}
_UNKNOWN_STATUS = StatusStyle("secondary", "bi-question-circle", "Unknown")
# Light backgrounds need dark text to reach WCAG contrast in both themes.
_DARK_TEXT_COLORS = frozenset({"warning", "info"})


def status_badge(status: str) -> dbc.Badge:
    """A coloured badge with icon and text for a job status; running gets a live pulse."""
    style = STATUS_STYLES.get(status, _UNKNOWN_STATUS)
    label = style.label if status in STATUS_STYLES else str(status).capitalize() or style.label
    live = " status-badge--live" if status == "running" else ""
    return dbc.Badge(
        [decorative_icon(style.icon, "me-1"), label],
        color=style.color,
        text_color="dark" if style.color in _DARK_TEXT_COLORS else None,
        className=f"status-badge{live}",
        title=f"Job status: {label}",
    )


def _display(value: Any) -> str:
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(_display(v) for v in value)
    return str(value)


def _humanize(key: str) -> str:
    return key.replace("_", " ").strip().capitalize()


def _section(title: str, rows: list[tuple[str, Any]]) -> list[html.Tr]:
    out = [html.Tr(html.Th(title, colSpan=2, className="config-table__section bg-body-tertiary"))]
    out += [html.Tr([html.Th(label, scope="row"), html.Td(_display(value))]) for label, value in rows]
    return out


def config_table(job: dict[str, Any], dataset: dict[str, Any] | None) -> dbc.Table:
    """Every setting the job ran with: run (base model, preset, GPUs, budget), all hyperparameters,
    dataset.

    ``job`` uses the API's job keys (``base_model`` as its hub id, ``preset_id``, ``hyperparameters``, ``gpu_config``,
    ``total_epochs``, ``total_steps``, ``budget_limit``, ``estimated_total_cost``); money values
    may arrive as Decimal or as the API's decimal strings. Unknown hyperparameters are listed
    too, sorted by name, because "which settings did this run use" must have a complete answer.
    """
    gpu = dict(job.get("gpu_config") or {})
    gpu_type = gpu.pop("gpu_type", None) or gpu.pop("type", None)
    gpu_count = gpu.pop("gpu_count", None) or gpu.pop("count", None)
    run = [
        ("Base model", job.get("base_model")),
        ("Preset", job.get("preset_id")),
        ("GPU type", gpu_type),
        ("GPU count", gpu_count),
        *((_humanize(k), v) for k, v in sorted(gpu.items())),
        ("Epochs", job.get("total_epochs")),
        ("Total steps", job.get("total_steps")),
        ("Estimated cost", _money_text(job.get("estimated_total_cost"))),
        ("Budget limit", _money_text(job.get("budget_limit"))),
    ]
    hyper = sorted((job.get("hyperparameters") or {}).items())
    rows = _section("Run", run) + _section("Hyperparameters", [(_humanize(k), v) for k, v in hyper])
    if dataset:
        rows += _section(
            "Dataset",
            [
                ("Name", dataset.get("name")),
                ("Format", dataset.get("format")),
                ("Training pairs", dataset.get("total_training_pairs")),
                ("Tokens", dataset.get("total_tokens")),
            ],
        )
    return dbc.Table(html.Tbody(rows), size="sm", borderless=True, className="config-table mb-0")


def _money_text(value: Any) -> str | None:
    if value is None:
        return None
    amount = parse_money(value)
    return format_money(amount) if amount is not None else str(value)


_EVENT_ICONS = {
    "completed": "bi-check-circle text-success",
    "failed": "bi-x-octagon text-danger",
    "cancelled": "bi-slash-circle text-warning",
    "running": "bi-play-circle text-primary",
    "initializing": "bi-gear text-info",
    "queued": "bi-hourglass-split text-body-secondary",
}


def _event_item(event: dict[str, Any], now: datetime) -> html.Li:
    at = parse_timestamp(event["at"])
    from_status, to_status = event.get("from_status"), event.get("to_status")
    if to_status:
        what = f"{from_status} → {to_status}" if from_status else f"→ {to_status}"
    else:
        what = _humanize(str(event.get("kind", "event")))
    details = event.get("details") or {}
    icon = _EVENT_ICONS.get(str(to_status), "bi-dot text-body-secondary")
    return html.Li(
        [
            decorative_icon(icon, "activity-log__icon"),
            html.Div(
                [
                    html.Div(
                        [
                            html.Span(what, className="fw-semibold me-2"),
                            html.Span(str(event.get("kind", "")), className="badge text-bg-light border me-2")
                            if to_status
                            else None,
                            html.Span(f"by {event.get('actor', 'system')}", className="text-body-secondary"),
                        ]
                    ),
                    html.Time(
                        format_relative_time(at, now),
                        dateTime=at.isoformat(),
                        title=format_absolute_time(at),
                        className="small text-body-secondary",
                    ),
                    html.Ul(
                        [
                            html.Li([html.Span(f"{_humanize(k)}: "), _display(v)])
                            for k, v in sorted(details.items())
                        ],
                        className="activity-log__details small text-body-secondary",
                    )
                    if details
                    else None,
                ],
                className="activity-log__body",
            ),
        ],
        className="activity-log__item",
    )


class EndingStyle(NamedTuple):
    heading: str
    icon: str
    color: str


# Why a job ended early (``error_message``): a failure is an error; a cancelled job with a reason
# was stopped on the user's behalf (its budget limit), which is not one.
_ENDING_STYLES = {"cancelled": EndingStyle("Job stopped", "bi-stop-circle", "warning")}
_FAILED_ENDING = EndingStyle("Job failed", "bi-exclamation-octagon", "danger")


def activity_log(
    events: list[dict[str, Any]],
    error_message: str | None,
    external_job_id: str | None,
    now: datetime | None = None,
    status: str | None = None,
) -> html.Div:
    """The job's audit trail, newest first, with why it ended early (if it did) and the cluster's job id.

    Events carry ``at`` (ISO string), ``kind``, ``from_status``, ``to_status``, ``actor`` and
    ``details``; times show relative ("5 min ago") with the absolute UTC time on hover.
    ``error_message`` is headed by ``status``: "Job failed", or "Job stopped" for a cancelled job
    (stopped at its budget limit). ``now`` is injectable so the output is deterministic in tests.
    """
    current = now or datetime.now(UTC)
    children: list[Any] = []
    if error_message:
        ending = _ENDING_STYLES.get(str(status), _FAILED_ENDING)
        children.append(
            dbc.Alert(
                [
                    html.Div([decorative_icon(ending.icon, "me-2"), html.Strong(ending.heading)]),
                    html.Pre(error_message, className="activity-error mb-0 mt-2"),
                ],
                color=ending.color,
            )
        )
    if external_job_id:
        children.append(
            html.Div(
                ["Cluster job id ", html.Code(external_job_id, className="user-select-all")],
                className="small text-body-secondary mb-2",
            )
        )
    ordered = sorted(events, key=lambda e: parse_timestamp(e["at"]), reverse=True)
    if ordered:
        children.append(
            html.Ol([_event_item(e, current) for e in ordered], className="activity-log list-unstyled")
        )
    else:
        children.append(html.P("No activity yet.", className="text-body-secondary mb-0"))
    return html.Div(children, className="activity")
