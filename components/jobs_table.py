"""The jobs list as a table: one row per job, linking to its monitor. Pure: JSON in, components out.

Rows take the API's job JSON (``services.serialize.job_json``) plus ``dataset_name``. On a phone the
GPU, created and status columns are hidden (``d-none d-md-table-cell``; the badge moves under the
job's name) rather than the table scrolling sideways: what someone checks from a phone is which
job, its status, how far along and what it costs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.formatters import (
    MISSING,
    base_model_name,
    format_absolute_time,
    format_relative_time,
    parse_money,
    parse_timestamp,
)
from components.job_status import progress_style, status_badge
from components.monitor_numbers import is_active
from components.pager import shown_range
from services.costs import format_money

WIDE_ONLY = "d-none d-md-table-cell"
STATUS_FILTER_ALL = "all"
STATUS_FILTER_ACTIVE = "active"
STATUS_FILTER_OPTIONS: list[dict[str, str]] = [
    {"label": "All statuses", "value": STATUS_FILTER_ALL},
    {"label": "Active (queued, initializing, running)", "value": STATUS_FILTER_ACTIVE},
    *(
        {"label": s.capitalize(), "value": s}
        for s in ("queued", "initializing", "running", "completed", "failed", "cancelled")
    ),
]
ACTIVE_FILTER_STATUSES = ("queued", "initializing", "running")
PICK_TYPE = "jobs-pick"  # pattern-matching id type of a row's "compare" checkbox: {"type", "job"}


# What a row shows, besides the time that passes (its "created" text is kept true in the browser).
ROW_FIELDS = (
    "id",
    "name",
    "dataset_name",
    "status",
    "base_model",
    "gpu_config",
    "progress",
    "current_cost",
    "final_cost",
    "estimated_total_cost",
    "created_at",
)


def pick_id(job_id: str) -> dict[str, str]:
    return {"type": PICK_TYPE, "job": job_id}


def row_digest(job: dict[str, Any]) -> str:
    """A short fingerprint of what ``job_row`` draws for ``job``: equal digests, equal rows. A live
    refresh resends only the rows whose digest changed."""
    shown = json.dumps([job.get(field) for field in ROW_FIELDS], sort_keys=True, default=str)
    return hashlib.blake2b(shown.encode(), digest_size=6).hexdigest()


def statuses_for_filter(value: str | None) -> list[str]:
    """The status list a filter choice means (empty = every status)."""
    if not value or value == STATUS_FILTER_ALL:
        return []
    if value == STATUS_FILTER_ACTIVE:
        return list(ACTIVE_FILTER_STATUSES)
    return [value]


def jobs_summary(shown: int, total: int, page: int, page_size: int, *, live: bool) -> str:
    """``3 of 3 jobs`` when one page holds them all, ``26–50 of 230 jobs`` when paged; ``· updating live``."""
    noun = "job" if total == 1 else "jobs"
    if total <= page_size:
        text = f"{shown:,} of {total:,} {noun}"
    else:
        first, last = shown_range(page, page_size, shown)
        text = f"{first:,}–{last:,} of {total:,} {noun}"
    return text + (" · updating live" if live else "")


def cost_text(job: dict[str, Any]) -> str:
    """``$0.42 / $1.20``: spent (final once terminal) over the estimate, or just what is known."""
    spent = parse_money(job.get("final_cost")) if not is_active(job.get("status", "")) else None
    spent = spent if spent is not None else parse_money(job.get("current_cost"))
    estimate = parse_money(job.get("estimated_total_cost"))
    if estimate is None:
        return format_money(spent)
    return f"{format_money(spent)} / {format_money(estimate)}"


def _progress_cell(job: dict[str, Any]) -> html.Td:
    value = min(max(float(job.get("progress") or 0.0), 0.0), 100.0)
    return html.Td(
        html.Div(
            [
                dbc.Progress(
                    value=value,  # coloured like the status badge (components/job_status.py)
                    className=f"jobs-progress {progress_style(str(job.get('status', '')))[0]} "
                    "flex-grow-1 d-none d-sm-flex",
                ),
                html.Span(f"{value:.0f}%", className="small ms-sm-2 jobs-progress__label"),
            ],
            className="d-flex align-items-center",
        )
    )


def _kept_true(at: datetime) -> dict[str, Any]:
    """assets/relative_time.js keeps "5 min ago" true in the browser: a refresh skips unchanged rows."""
    return {"data-relative-time": at.isoformat()}


def job_row(job: dict[str, Any], now: datetime, picked: bool = False) -> html.Tr:
    """One job: its compare checkbox, name/dataset (the link to its monitor), status, GPU,
    progress, cost, created."""
    href = f"/training/jobs/{job['id']}"
    label = job.get("name") or job.get("dataset_name") or f"Job {job['id'][:8]}"
    sub = job.get("dataset_name") if job.get("name") else f"{job['id'][:8]}"
    gpu = job.get("gpu_config") or {}
    created = parse_timestamp(job["created_at"]) if job.get("created_at") else None
    return html.Tr(
        [
            html.Td(
                dbc.Checkbox(
                    id=pick_id(job["id"]),
                    value=picked,
                    label=f"Compare {label}",
                    label_class_name="visually-hidden",
                    input_class_name="jobs-pick",
                ),
                className="jobs-col-pick",
                title="Select to compare",
            ),
            html.Td(
                [
                    dcc.Link(label, href=href, className="fw-semibold jobs-row__link stretched-link"),
                    html.Div(sub, className="small text-body-secondary"),
                    # on a phone the status column is hidden and the badge sits under the name
                    html.Div(status_badge(job.get("status", "")), className="d-md-none mt-1"),
                ],
                className="position-relative",
            ),
            html.Td(status_badge(job.get("status", "")), className=WIDE_ONLY),
            html.Td(
                base_model_name(job.get("base_model")),
                title=job.get("base_model"),
                className=f"{WIDE_ONLY} jobs-col-model",
            ),
            html.Td(f"{gpu.get('count', '?')}× {gpu.get('type', MISSING)}", className=WIDE_ONLY),
            _progress_cell(job),
            html.Td(cost_text(job), className="text-nowrap font-monospace-nums"),
            html.Td(
                html.Time(
                    format_relative_time(created, now),
                    dateTime=created.isoformat(),
                    title=format_absolute_time(created),
                    **_kept_true(created),
                )
                if created
                else MISSING,
                className=f"{WIDE_ONLY} text-nowrap",
            ),
        ],
        className="jobs-row",
        **{"data-job-id": job["id"]},
    )


def row_location(index: int) -> list[str | int]:
    """Where row ``index`` sits in the JSON of ``jobs_table``'s table (for a ``Patch`` of one row)."""
    return ["props", "children", 1, "props", "children", index]


def jobs_table(
    jobs: list[dict[str, Any]], now: datetime, picked: Collection[str] = ()
) -> dbc.Table | html.Div:
    """The table, or an empty state that says what to do next; ``picked`` ids are ticked."""
    if not jobs:
        return html.Div(
            [
                html.P("No training jobs here yet.", className="mb-2"),
                dcc.Link(
                    "Configure a new job", href="/training/configure", className="btn btn-primary btn-sm"
                ),
            ],
            className="text-center text-body-secondary py-5 jobs-empty",
        )
    head = html.Thead(
        html.Tr(
            [
                html.Th(html.Span("Compare", className="visually-hidden"), scope="col"),
                html.Th("Job", scope="col"),
                html.Th("Status", scope="col", className=WIDE_ONLY),
                html.Th("Model", scope="col", className=WIDE_ONLY),
                html.Th("GPU", scope="col", className=WIDE_ONLY),
                html.Th("Progress", scope="col", className="jobs-col-progress"),
                html.Th("Cost (spent / est.)", scope="col"),
                html.Th("Created", scope="col", className=WIDE_ONLY),
            ]
        )
    )
    return dbc.Table(  # keep row_location in step with this shape
        [head, html.Tbody([job_row(job, now, job["id"] in picked) for job in jobs])],
        hover=True,
        responsive=True,
        className="align-middle jobs-table mb-0",
    )
