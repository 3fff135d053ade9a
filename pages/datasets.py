"""`/datasets`: upload a JSONL dataset, see its validation result, list and delete datasets.

Validation, storage and the "in use" refusal are the service layer's (services.datasets, the same
functions behind `POST/GET/DELETE /api/datasets`, through pages._datasets_data); the page decodes
the browser's upload, hands it over, and shows the outcome.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html

from components.aria import aria
from components.dataset_view import DELETE_TYPE, datasets_table, format_file_size
from pages._dataset_upload import DecodeError, decode_upload, page_upload_limit, upload_name, upload_result
from pages._datasets_data import dataset_name, delete_user_dataset, store_upload, user_datasets
from pages._payload import payload_id
from pages._signed_in import require_user_id, signed_in_user_id

dash.register_page(__name__, path="/datasets", name="Datasets", title="Datasets · PIPELINE", nav_order=3)

UPLOAD = "datasets-upload"
NAME = "datasets-name"
PROGRESS = "datasets-upload-progress"
RESULT = "datasets-upload-result"
LIST = "datasets-list"
MESSAGE = "datasets-message"
MODAL = "datasets-delete-modal"
MODAL_BODY = "datasets-delete-body"
CONFIRM = "datasets-delete-confirm"
CANCEL = "datasets-delete-cancel"
TARGET = "datasets-delete-target"


def _data(**values: object) -> dict[str, Any]:
    """``data-*`` attributes (Dash takes them only as ``**{"data-x": ...}``), typed once here."""
    return {f"data-{key.replace('_', '-')}": str(value) for key, value in values.items()}


def _upload_card(limit: int) -> dbc.Card:
    zone = dcc.Upload(
        html.Div(
            [
                html.I(className="bi bi-cloud-arrow-up upload-zone__icon", **aria(hidden=True)),
                html.Div(
                    [
                        html.Strong("Drop a JSONL file here"),
                        " or ",
                        # A real button: keyboard users reach it with Tab, and it names the control.
                        # Its click bubbles to the upload area, which opens the file dialog.
                        html.Button(
                            "choose a file",
                            type="button",
                            id="datasets-choose-file",
                            className="btn btn-link p-0 align-baseline upload-zone__choose",
                        ),
                    ]
                ),
                html.Div(
                    f"One example per line: prompt/completion or chat messages · up to {format_file_size(limit)}",
                    className="small text-body-secondary",
                ),
            ],
            className="upload-zone__inner",
        ),
        id=UPLOAD,
        max_size=limit,
        className="upload-zone",
        className_active="upload-zone upload-zone--active",
        className_disabled="upload-zone upload-zone--disabled",
    )
    progress = html.Div(
        [
            html.Div("Uploading and validating your file…", className="small mb-1"),
            dbc.Progress(value=100, striped=True, animated=True, className="upload-progress__bar"),
        ],
        id=PROGRESS,
        className="upload-progress d-none",
        role="status",
    )
    return dbc.Card(
        [
            dbc.CardHeader(html.H2("Upload a dataset", className="h6 mb-0")),
            dbc.CardBody(
                [
                    dbc.Label("Dataset name", html_for=NAME, className="small fw-semibold mb-1"),
                    dbc.Input(id=NAME, type="text", maxlength=200, placeholder="Defaults to the file name"),
                    dbc.FormText("Optional."),
                    # The limit rides on the page for assets/forms_upload.js (dcc.Upload drops an
                    # oversized file without a word; the script says why instead).
                    html.Div(zone, className="mt-3", id="datasets-upload-limit", **_data(max_bytes=limit)),
                    progress,
                    html.Div(id=RESULT, className="mt-3", **aria(live="polite")),
                ]
            ),
        ],
        className="mb-4",
    )


def _delete_modal() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Delete dataset?")),
            dbc.ModalBody(id=MODAL_BODY),
            dbc.ModalFooter(
                [
                    html.Button("Keep it", id=CANCEL, type="button", className="btn btn-outline-secondary"),
                    html.Button("Delete", id=CONFIRM, type="button", className="btn btn-danger"),
                ]
            ),
        ],
        id=MODAL,
        is_open=False,
    )


def layout(**_query: str) -> html.Div:
    user_id = signed_in_user_id()
    datasets = user_datasets(user_id) if user_id is not None else []
    return html.Div(
        [
            dcc.Store(id=TARGET),
            html.H1("Datasets", className="h3 mb-3"),
            _upload_card(page_upload_limit()),
            dbc.Card(
                [
                    dbc.CardHeader(html.H2("Your datasets", className="h6 mb-0")),
                    dbc.CardBody(
                        [
                            html.Div(id=MESSAGE, **aria(live="polite")),
                            html.Div(datasets_table(datasets), id=LIST),
                        ]
                    ),
                ]
            ),
            _delete_modal(),
        ],
        className="datasets-page",
    )


@callback(
    Output(RESULT, "children"),
    Output(LIST, "children"),
    Output(UPLOAD, "contents"),
    Input(UPLOAD, "contents"),
    State(UPLOAD, "filename"),
    State(NAME, "value"),
    running=[
        (Output(PROGRESS, "className"), "upload-progress mt-3", "upload-progress d-none"),
        (Output(UPLOAD, "disabled"), True, False),
    ],
    prevent_initial_call=True,
)
def upload_dataset(contents: str | None, filename: str | None, name: str | None) -> tuple[Any, Any, None]:
    """Validate and store the upload through the service; show what it found, refresh the list."""
    if not contents:
        return dash.no_update, dash.no_update, None
    user_id = require_user_id()
    try:
        data = decode_upload(contents)
    except DecodeError as exc:
        return upload_result(None, exc), dash.no_update, None
    dataset, error = store_upload(user_id, upload_name(name, filename), data)
    if error is not None:
        return upload_result(None, error), dash.no_update, None
    return upload_result(dataset, None), datasets_table(user_datasets(user_id)), None


@callback(
    Output(MODAL, "is_open"),
    Output(MODAL_BODY, "children"),
    Output(TARGET, "data"),
    Input({"type": DELETE_TYPE, "id": ALL}, "n_clicks"),
    Input(CANCEL, "n_clicks"),
    prevent_initial_call=True,
)
def ask_delete(_clicks: list[int | None], _cancel: int | None) -> tuple[Any, Any, Any]:
    """Open the confirmation for the clicked dataset; a re-rendered list (no click) does nothing."""
    trigger = ctx.triggered_id
    if trigger == CANCEL:
        return False, dash.no_update, None
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        return dash.no_update, dash.no_update, dash.no_update
    dataset_id = payload_id(trigger.get("id"))
    name = dataset_name(require_user_id(), dataset_id) if dataset_id is not None else None
    if name is None:
        return False, dash.no_update, None
    body = [
        html.P(["Delete ", html.Strong(name), " and its stored file?"]),
        html.P(
            "This cannot be undone. Datasets used by a training job cannot be deleted.",
            className="small mb-0",
        ),
    ]
    return True, body, dataset_id


@callback(
    Output(MESSAGE, "children"),
    Output(LIST, "children", allow_duplicate=True),
    Output(MODAL, "is_open", allow_duplicate=True),
    Input(CONFIRM, "n_clicks"),
    State(TARGET, "data"),
    running=[(Output(CONFIRM, "disabled"), True, False)],
    prevent_initial_call=True,
)
def confirm_delete(n_clicks: int | None, dataset_id: int | None) -> tuple[Any, Any, bool]:
    """Delete through the service; "in use" and "not found" come back as a clear message."""
    target = payload_id(dataset_id)
    if not n_clicks or target is None:
        return dash.no_update, dash.no_update, False
    user_id = require_user_id()
    name, refused = delete_user_dataset(user_id, target)
    if refused is not None:
        # Name the dataset only when it is the user's (a missing one is just "not found").
        title = f"{refused.message}: “{name}” was not deleted. " if name else f"{refused.message}. "
        message = dbc.Alert(
            [html.Strong(title), str(refused.details)],
            color="warning",
            dismissable=True,
            id="datasets-delete-refused",
        )
        return message, dash.no_update, False
    done = dbc.Alert(
        f"Deleted “{name}”.", color="success", dismissable=True, duration=6000, id="datasets-deleted"
    )
    return done, datasets_table(user_datasets(user_id)), False
