"""`/training/jobs`: the signed-in user's training jobs, newest first, filterable by status, a page at a time.

The URL holds what is shown (``?status=running&page=3``); the filter and the pager both navigate, so
there is one way the list changes. Its interval refreshes the page only while the user has an active
job, so an idle list makes no requests, and a refresh sends only the rows that changed (a ``Patch``
of those rows; the whole table only when the rows shown are other jobs or in another order).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, Patch, State, callback, ctx, dcc, html, no_update

from api.runtime import ui_poll_seconds
from components.aria import aria
from components.jobs_table import (
    PICK_TYPE,
    STATUS_FILTER_ALL,
    STATUS_FILTER_OPTIONS,
    job_row,
    jobs_summary,
    jobs_table,
    row_digest,
    row_location,
)
from components.pager import page_href, pager, requested_page
from pages._jobs_data import PAGE_SIZE, JobsView, user_jobs
from pages._signed_in import signed_in_user_id
from services.errors import ValidationError
from services.job_compare import MAX_COMPARED_JOBS

PATH = "/training/jobs"
dash.register_page(__name__, path=PATH, name="Jobs", title="Jobs · PIPELINE", nav_order=1)

FILTER = "jobs-status-filter"
TABLE = "jobs-table"
SUMMARY = "jobs-summary"
PAGER = "jobs-pager"
INTERVAL = "jobs-interval"
URL = "jobs-url"
SHOWN = "jobs-shown"  # {"status", "page", "pages", "rows"}: what the page shows, for the live refresh
PICKED = "jobs-picked"  # dcc.Store: ids ticked for comparison, in the order ticked (any page)
COMPARE = "jobs-compare"  # the "Compare" link to /training/compare?jobs=...
COMPARE_HINT = "jobs-compare-hint"
_FILTER_VALUES = {option["value"] for option in STATUS_FILTER_OPTIONS}


def _filter_value(status: object) -> str:
    """A known filter choice; anything else (unknown, repeated ``?status=a&status=b``) is all."""
    return status if isinstance(status, str) and status in _FILTER_VALUES else STATUS_FILTER_ALL


def _href(status: str, page: int) -> str:
    return page_href(PATH, page, {} if status == STATUS_FILTER_ALL else {"status": status})


def _pager(status: str, view: JobsView) -> html.Nav | None:
    return pager(view.page, view.pages, lambda n: _href(status, n), label="Jobs pages")


def _shown(status: str, view: JobsView | None) -> dict[str, Any]:
    """What the page shows: filter, page and its rows as ``[id, row_digest]`` pairs."""
    return {
        "status": status,
        "page": view.page if view else 1,
        "pages": view.pages if view else 1,
        "rows": [[row["id"], row_digest(row)] for row in view.rows] if view else [],
    }


def _changed_rows(shown: dict[str, Any], now_shown: dict[str, Any]) -> list[int] | None:
    """Indexes of the rows whose digest changed, or None when other jobs (or another order) are
    shown now: then the whole table is redrawn."""
    before, after = shown.get("rows"), now_shown["rows"]
    if not isinstance(before, list) or len(before) != len(after):
        return None
    if any(not isinstance(old, list) or old[:1] != new[:1] for old, new in zip(before, after, strict=True)):
        return None
    return [index for index, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]


def _summary(view: JobsView) -> str:
    return jobs_summary(len(view.rows), view.total, view.page, PAGE_SIZE, live=view.active > 0)


def layout(status: str | None = None, page: str | None = None, **_query: str) -> html.Div:
    """``?status=running`` (or ``active``) preselects the filter and ``?page=N`` the page; values
    that mean nothing give the full list's first page, a page past the end gives the last one."""
    chosen = _filter_value(status)
    user_id = signed_in_user_id()
    view = user_jobs(user_id, chosen, requested_page(page)) if user_id is not None else None
    return html.Div(
        [
            html.Div(
                [
                    html.H1("Training jobs", className="h3 mb-0 me-auto"),
                    dcc.Link(
                        [html.I(className="bi bi-bar-chart-line me-1", **aria(hidden=True)), "Compare"],
                        href="/training/compare",
                        id=COMPARE,
                        className="btn btn-outline-primary btn-sm disabled",
                        title="Compare the selected jobs",
                    ),
                    dcc.Link(
                        [html.I(className="bi bi-plus-lg me-1", **aria(hidden=True)), "New job"],
                        href="/training/configure",
                        className="btn btn-primary btn-sm",
                    ),
                ],
                className="d-flex align-items-center gap-2 mb-1",
            ),
            html.P(
                f"Tick up to {MAX_COMPARED_JOBS} jobs to compare them.",
                id=COMPARE_HINT,
                className="small text-body-secondary mb-2",
                **aria(live="polite"),
            ),
            html.Div(
                [
                    dbc.Label("Status", html_for=FILTER, className="small mb-0 me-2"),
                    dbc.Select(
                        id=FILTER,
                        options=STATUS_FILTER_OPTIONS,
                        value=chosen,
                        size="sm",
                        className="jobs-filter",
                    ),
                    html.Span(
                        _summary(view) if view else "",
                        id=SUMMARY,
                        className="small text-body-secondary ms-auto",
                        **aria(live="polite"),
                    ),
                ],
                className="d-flex flex-wrap align-items-center gap-2 mb-2",
            ),
            dbc.Card(
                dbc.CardBody(
                    jobs_table(view.rows if view else [], datetime.now(UTC)), id=TABLE, className="p-0"
                )
            ),
            html.Div(
                _pager(chosen, view) if view else None,
                id=PAGER,
                className="d-flex justify-content-center mt-3",
            ),
            dcc.Location(id=URL, refresh="callback-nav"),
            dcc.Store(id=SHOWN, data=_shown(chosen, view)),
            dcc.Store(id=PICKED, data=[]),
            dcc.Interval(
                id=INTERVAL,
                interval=int(ui_poll_seconds() * 1000),
                disabled=view is None or view.active == 0,
            ),
        ],
        id="jobs-page",
    )


@callback(Output(URL, "href"), Input(FILTER, "value"), prevent_initial_call=True)
def choose_filter(filter_value: str | None) -> str:
    """A new filter is a new address (its first page); the page's layout draws it from there."""
    return _href(_filter_value(filter_value), 1)


# Choosing a filter navigates, and the page is drawn afresh: put keyboard focus back on the filter,
# so someone stepping through the statuses with the arrow keys keeps their place. The second
# callback names an output it never writes because Dash skips the first-render call of callbacks
# without one.
dash.clientside_callback(
    "function(_value) { window.__jobsFilterChosen = true; }",
    Input(FILTER, "value"),
    prevent_initial_call=True,
)
dash.clientside_callback(
    """function(_shown) {
        if (window.__jobsFilterChosen) {
            window.__jobsFilterChosen = false;
            const filter = document.getElementById(FILTER_ID);
            if (filter) { filter.focus(); }
        }
        return window.dash_clientside.no_update;
    }""".replace("FILTER_ID", repr(FILTER)),
    Output(FILTER, "class_name"),
    Input(SHOWN, "data"),
)


@callback(
    Output(TABLE, "children"),
    Output(SUMMARY, "children"),
    Output(PAGER, "children"),
    Output(SHOWN, "data"),
    Output(INTERVAL, "disabled"),
    Input(INTERVAL, "n_intervals"),
    State(SHOWN, "data"),
    State(PICKED, "data"),
    State(SUMMARY, "children"),
    prevent_initial_call=True,
)
def refresh(
    _ticks: int | None, shown: dict[str, Any] | None, picked: list[Any] | None, summary: object
) -> tuple[Any, ...]:
    """The rows of the shown page that changed, and whether to keep polling (any active job at all).

    Everything unchanged is ``no_update``: a refresh where nothing moved sends no component. The
    pager in particular is sent only when its numbers changed: redrawn on every tick, a link could
    be replaced between the press and the release of a click, and the click would be lost.
    """
    user_id = signed_in_user_id()
    if user_id is None:
        return dbc.Alert("Sign in to see your jobs.", color="warning"), "", None, no_update, True
    shown = shown if isinstance(shown, dict) else {}
    status = shown.get("status")
    status = status if isinstance(status, str) else STATUS_FILTER_ALL
    try:
        view = user_jobs(user_id, status, requested_page(str(shown.get("page"))))
    except ValidationError as exc:
        alert = dbc.Alert(exc.errors.get("status", exc.message), color="danger")
        return alert, "", None, no_update, True
    now_shown = _shown(status, view)
    same_pages = all(now_shown[key] == shown.get(key) for key in ("status", "page", "pages"))
    changed = _changed_rows(shown, now_shown)
    new_summary = _summary(view)
    return (
        _table_update(view, changed, picked),
        no_update if new_summary == summary else new_summary,
        no_update if same_pages else _pager(status, view),
        _shown_update(now_shown, changed if same_pages else None),
        True if view.active == 0 else no_update,  # the interval runs: it stays on while jobs are active
    )


def _shown_update(now_shown: dict[str, Any], changed: list[int] | None) -> Any:
    """The new SHOWN value, or a Patch of the changed rows' digests (the ids are random: resent
    whole, they would be most of a compressed refresh), or ``no_update``."""
    if changed is None:
        return now_shown
    if not changed:
        return no_update
    patch = Patch()
    for index in changed:
        patch["rows"][index] = now_shown["rows"][index]
    return patch


def _table_update(view: JobsView, changed: list[int] | None, picked: object) -> Any:
    """The whole table (other rows shown), a Patch of the changed rows, or ``no_update``."""
    now = datetime.now(UTC)
    if changed is None:
        return jobs_table(view.rows, now, _ids(picked))
    if not changed:
        return no_update
    ticked = _ids(picked)
    patch = Patch()
    for index in changed:
        job = view.rows[index]
        *path, last = row_location(index)
        node: Any = patch
        for key in path:
            node = node[key]
        node[last] = job_row(job, now, job["id"] in ticked)
    return patch


def _ids(value: object) -> list[str]:
    """The stored selection as a list of strings (a crafted store value reads as nothing)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


@callback(
    Output(PICKED, "data"),
    Output(COMPARE, "href"),
    Output(COMPARE, "className"),
    Output(COMPARE_HINT, "children"),
    Output({"type": PICK_TYPE, "job": ALL}, "value"),
    Input({"type": PICK_TYPE, "job": ALL}, "value"),
    State(PICKED, "data"),
    prevent_initial_call=True,
)
def pick(_values: list[Any], picked: list[Any] | None) -> tuple[Any, ...]:
    """The ticked rows of this page joined to those ticked on other pages, at most 10, and the
    "Compare" link to them (active from two jobs). An eleventh tick is undone on the page."""
    shown = {
        str(item["id"]["job"]): bool(item.get("value"))
        for item in ctx.inputs_list[0]
        if isinstance(item, dict) and isinstance(item.get("id"), dict)
    }
    kept = [job for job in _ids(picked) if shown.get(job, True)]
    added = [job for job, on in shown.items() if on and job not in kept]
    chosen = kept + added
    hint = f"{len(chosen)} selected." if chosen else f"Tick up to {MAX_COMPARED_JOBS} jobs to compare them."
    if len(chosen) > MAX_COMPARED_JOBS:
        chosen = chosen[:MAX_COMPARED_JOBS]
        hint = f"At most {MAX_COMPARED_JOBS} jobs can be compared; the latest ticks were left out."
    look = "btn btn-outline-primary btn-sm" + ("" if len(chosen) >= 2 else " disabled")
    # one value per checkbox the page has (an 11th tick is taken back)
    boxes = [
        isinstance(item, dict) and str((item.get("id") or {}).get("job")) in chosen
        for item in ctx.outputs_list[4]
    ]
    return chosen, f"/training/compare?jobs={','.join(chosen)}", look, hint, boxes
