"""Pure builders for the datasets page: the upload's validation result and the datasets table.

Datasets arrive as dicts with the JSON API's keys (``id``, ``name``, ``total_training_pairs``,
``total_tokens``, ``file_size``, ``status``, ``created_at``), so the page and the API show the
same thing. No data access here; pages/datasets.py fetches through the service layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.aria import aria, decorative_icon
from components.formatters import MISSING, format_absolute_time, format_relative_time, parse_timestamp

DELETE_TYPE = "dataset-delete"
_SIZE_UNITS = ("B", "KB", "MB", "GB", "TB")
_STATUS_COLORS = {"ready": "success", "invalid": "danger"}


def format_file_size(size: int | None) -> str:
    """``812 B``, ``40.0 KB``, ``1.5 MB`` (powers of 1024, one decimal above bytes)."""
    if size is None or size < 0:
        return MISSING
    value = float(size)
    for unit in _SIZE_UNITS:
        if value < 1024 or unit == _SIZE_UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return MISSING  # unreachable: the last unit always returns


def delete_button_id(dataset_id: int) -> dict[str, Any]:
    return {"type": DELETE_TYPE, "id": int(dataset_id)}


def upload_accepted(dataset: Mapping[str, Any]) -> dbc.Alert:
    """The upload was valid and stored: name, pairs, tokens and size."""
    pairs = int(dataset.get("total_training_pairs") or 0)
    tokens = int(dataset.get("total_tokens") or 0)
    return dbc.Alert(
        [
            html.Div(
                [decorative_icon("bi-check-circle", "me-2"), html.Strong(f"“{dataset.get('name')}” is ready")]
            ),
            html.Ul(
                [
                    html.Li([html.Span(f"{pairs:,}", id="upload-pairs"), " training pairs"]),
                    html.Li([html.Span(f"~{tokens:,}", id="upload-tokens"), " tokens (estimated)"]),
                    html.Li(format_file_size(dataset.get("file_size"))),
                ],
                className="mb-0 mt-2",
            ),
        ],
        color="success",
        id="upload-result-ok",
        className="mb-0",
    )


def upload_rejected(
    message: str, bad_lines: Sequence[Mapping[str, Any]], total_bad: int | None = None
) -> dbc.Alert:
    """The upload was refused: why, and the first bad lines with their reasons. Nothing was stored.

    ``bad_lines`` items carry ``line`` (1-based) and ``error``; ``total_bad`` (when the service
    counted more lines than it listed) adds an "and N more" so nobody thinks the list is complete.
    """
    rows = [
        html.Li(
            [html.Span(f"Line {item.get('line')}: ", className="fw-semibold"), str(item.get("error", ""))]
        )
        for item in bad_lines
    ]
    more = (total_bad or 0) - len(bad_lines)
    if more > 0:
        rows.append(
            html.Li(f"… and {more:,} more bad line{'s' if more != 1 else ''}", className="fst-italic")
        )
    return dbc.Alert(
        [
            html.Div(
                [
                    decorative_icon("bi-x-octagon", "me-2"),
                    html.Strong("File not accepted — nothing was stored"),
                ]
            ),
            html.P(message, className="mb-1 mt-2"),
            html.Ol(rows, className="bad-lines mb-0 small", id="upload-bad-lines") if rows else None,
        ],
        color="danger",
        id="upload-result-error",
        className="mb-0",
    )


def _status_badge(status: str) -> dbc.Badge:
    return dbc.Badge(
        status.capitalize(), color=_STATUS_COLORS.get(status, "secondary"), className="fw-semibold"
    )


def _created_cell(value: Any, now: datetime) -> html.Td:
    if not value:
        return html.Td(MISSING, className="d-none d-sm-table-cell")
    at = parse_timestamp(value)
    return html.Td(
        html.Time(format_relative_time(at, now), dateTime=at.isoformat(), title=format_absolute_time(at)),
        className="text-nowrap d-none d-sm-table-cell",
    )


def _actions(dataset: Mapping[str, Any], name: str) -> list[Any]:
    """Train on it (ready datasets only) and delete; icon-only on narrow screens, named for all."""
    dataset_id = int(dataset["id"])
    actions: list[Any] = []
    if dataset.get("status") == "ready":
        actions.append(
            dcc.Link(
                [
                    html.I(className="bi bi-play-fill", **aria(hidden=True)),
                    html.Span(" Train", className="d-none d-lg-inline"),
                ],
                href=f"/training/configure?dataset={dataset_id}",
                className="btn btn-sm btn-outline-primary me-2",
                title=f"Train a job on {name}",
                id=f"dataset-train-{dataset_id}",
            )
        )
    actions.append(
        html.Button(
            [
                html.I(className="bi bi-trash", **aria(hidden=True)),
                html.Span(" Delete", className="d-none d-lg-inline"),
            ],
            id=delete_button_id(dataset_id),
            type="button",
            className="btn btn-sm btn-outline-danger",
            title=f"Delete dataset {name}",
            **aria(f"Delete dataset {name}"),
        )
    )
    return actions


def _row(dataset: Mapping[str, Any], now: datetime) -> html.Tr:
    name = str(dataset.get("name", ""))
    return html.Tr(
        [
            html.Th(name, scope="row", className="text-break"),
            html.Td(f"{int(dataset.get('total_training_pairs') or 0):,}", className="text-end"),
            html.Td(
                f"{int(dataset.get('total_tokens') or 0):,}", className="text-end d-none d-sm-table-cell"
            ),
            html.Td(format_file_size(dataset.get("file_size")), className="text-end d-none d-md-table-cell"),
            html.Td(_status_badge(str(dataset.get("status", "")))),
            _created_cell(dataset.get("created_at"), now),
            html.Td(_actions(dataset, name), className="text-end text-nowrap"),
        ],
        className="dataset-row",
    )


def datasets_table(datasets: Sequence[Mapping[str, Any]], now: datetime | None = None) -> html.P | dbc.Table:
    """The user's datasets, newest first as given; an empty state when there are none."""
    if not datasets:
        return html.P(
            "No datasets yet. Upload a JSONL file above to create your first one.",
            className="text-body-secondary mb-0",
            id="datasets-empty",
        )
    current = now or datetime.now(UTC)
    header = html.Thead(
        html.Tr(
            [
                html.Th("Name", scope="col"),
                html.Th("Pairs", scope="col", className="text-end"),
                html.Th("Tokens", scope="col", className="text-end d-none d-sm-table-cell"),
                html.Th("Size", scope="col", className="text-end d-none d-md-table-cell"),
                html.Th("Status", scope="col"),
                html.Th("Created", scope="col", className="d-none d-sm-table-cell"),
                html.Th(html.Span("Actions", className="visually-hidden"), scope="col"),
            ]
        )
    )
    return dbc.Table(
        [header, html.Tbody([_row(d, current) for d in datasets])],
        hover=True,
        responsive=True,
        className="datasets-table align-middle mb-0",
        id="datasets-table",
    )
