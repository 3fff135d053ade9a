"""`/training/jobs`: the signed-in user's training jobs, newest first, filterable by status.

One callback reads through the shared service layer (``db.training_jobs.list_jobs``) and hands
JSON to ``components.jobs_table``. The page's ``dcc.Interval`` runs only while the user has an
active job (whatever the filter shows), so an idle list makes no requests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html

from api.runtime import get_runtime
from components.aria import aria
from components.jobs_table import (
    ACTIVE_FILTER_STATUSES,
    STATUS_FILTER_ALL,
    STATUS_FILTER_OPTIONS,
    jobs_table,
    statuses_for_filter,
)
from db.errors import ValidationError
from db.serialize import job_json
from db.training_jobs import MAX_PAGE_SIZE, list_jobs
from pages._monitor_data import poll_seconds, signed_in_user_id

dash.register_page(__name__, path="/training/jobs", name="Jobs", title="Jobs · PIPELINE", nav_order=1)

FILTER = "jobs-status-filter"
TABLE = "jobs-table"
SUMMARY = "jobs-summary"
INTERVAL = "jobs-interval"
_FILTER_VALUES = {option["value"] for option in STATUS_FILTER_OPTIONS}


def layout(status: str | None = None, **_query: str) -> html.Div:
    """``?status=running`` (or ``active``) preselects the filter, so a filtered list can be linked."""
    initial = status if status in _FILTER_VALUES else STATUS_FILTER_ALL
    return html.Div(
        [
            html.Div(
                [
                    html.H1("Training jobs", className="h3 mb-0 me-auto"),
                    dcc.Link(
                        [html.I(className="bi bi-plus-lg me-1", **aria(hidden=True)), "New job"],
                        href="/training/configure",
                        className="btn btn-primary btn-sm",
                    ),
                ],
                className="d-flex align-items-center gap-2 mb-3",
            ),
            html.Div(
                [
                    dbc.Label("Status", html_for=FILTER, className="small mb-0 me-2"),
                    dbc.Select(
                        id=FILTER,
                        options=STATUS_FILTER_OPTIONS,
                        value=initial,
                        size="sm",
                        className="jobs-filter",
                    ),
                    html.Span(
                        id=SUMMARY, className="small text-body-secondary ms-auto", **aria(live="polite")
                    ),
                ],
                className="d-flex flex-wrap align-items-center gap-2 mb-2",
            ),
            dbc.Card(
                dbc.CardBody(
                    html.Div(
                        [dbc.Spinner(color="primary", size="sm", spinner_class_name="me-2"), "Loading jobs…"],
                        className="text-center text-body-secondary py-4",
                        role="status",
                    ),
                    id=TABLE,
                    className="p-0",
                )
            ),
            dcc.Interval(id=INTERVAL, interval=int(poll_seconds() * 1000), disabled=True),
        ],
        id="jobs-page",
    )


@callback(
    Output(TABLE, "children"),
    Output(SUMMARY, "children"),
    Output(INTERVAL, "disabled"),
    Input(FILTER, "value"),
    Input(INTERVAL, "n_intervals"),
)
def refresh(filter_value: str | None, _ticks: int | None) -> tuple[Any, str, bool]:
    """The filtered table, "n of m jobs", and whether to keep polling (any active job at all)."""
    user_id = signed_in_user_id()
    if user_id is None:
        return dbc.Alert("Sign in to see your jobs.", color="warning"), "", True
    try:
        with get_runtime().transaction() as session:
            page = list_jobs(
                session, user_id, statuses=statuses_for_filter(filter_value), limit=MAX_PAGE_SIZE
            )
            rows = [
                {**job_json(job), "dataset_name": job.dataset.name if job.dataset else None}
                for job in page.items
            ]
            active = list_jobs(session, user_id, statuses=list(ACTIVE_FILTER_STATUSES), limit=1).total
    except ValidationError as exc:
        return dbc.Alert(exc.errors.get("status", exc.message), color="danger"), "", True
    shown = f"{len(rows)} of {page.total} job{'s' if page.total != 1 else ''}"
    live = " · updating live" if active else ""
    return jobs_table(rows, datetime.now(UTC)), shown + live, active == 0
