"""Layout of /training/configure: component ids and the form's cards (no callbacks, no data access).

pages/configure.py owns the page registration, the layout entry point and the callbacks; the
cards are built here from plain values so the page module stays short.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.aria import aria
from components.job_form import (
    BASE_MODEL_FIELD,
    BUDGET_FIELD,
    DATASET_FIELD,
    GPU_COUNT_FIELD,
    GPU_TYPE_FIELD,
    HYPERPARAMETER_FIELDS,
    NAME_FIELD,
    base_model_options,
    dataset_options,
    estimate_summary,
    field_id,
    gpu_type_options,
    labelled_field,
    number_field,
    number_input,
    preset_options,
    preset_summary,
)
from services.job_config import DEFAULT_PRESET, PRESETS

REDIRECT = "configure-redirect"
PRESET = "configure-preset"
PRESET_HELP = "configure-preset-help"
ESTIMATE = "configure-estimate"
SUBMIT = "configure-submit"
SUBMIT_ERROR = "configure-submit-error"
FORM_ERRORS = "configure-form-errors"
EMPTY = "configure-empty"
FORM = "configure-form"
CLONE_EXTRA = "configure-clone-extra"  # dcc.Store: a cloned job's settings the form has no control for
CLONED = "configure-cloned"  # the note saying which job the form was filled from
FIXABLE = "Fix the highlighted fields to see the estimate."
NOT_CREATED = "The job was not created: fix the highlighted fields."
PRESET_FIELDS = (*HYPERPARAMETER_FIELDS, BASE_MODEL_FIELD, GPU_TYPE_FIELD, GPU_COUNT_FIELD)


def preset_values(preset_id: str) -> dict[str, Any]:
    preset = PRESETS[preset_id]
    return {
        **preset["hyperparameters"],
        BASE_MODEL_FIELD.name: preset["base_model"],
        GPU_TYPE_FIELD.name: preset["gpu_config"]["type"],
        GPU_COUNT_FIELD.name: preset["gpu_config"]["count"],
    }


def cloned_values(request: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(preset, form values, extra request fields) for a create request copied from a job
    (services.job_clone): the preset's values overridden by the job's own; fields the form has
    no control for ride along unchanged (merged into what the form sends)."""
    preset_id = request.get("preset_id") if request.get("preset_id") in PRESETS else DEFAULT_PRESET
    values = preset_values(str(preset_id))
    values.update(request.get("hyperparameters") or {})
    gpu = request.get("gpu_config") or {}
    values[GPU_TYPE_FIELD.name] = gpu.get("type", values[GPU_TYPE_FIELD.name])
    values[GPU_COUNT_FIELD.name] = gpu.get("count", values[GPU_COUNT_FIELD.name])
    for spec in (BASE_MODEL_FIELD, NAME_FIELD, BUDGET_FIELD, DATASET_FIELD):
        if request.get(spec.error_key) is not None:
            values[spec.name] = request[spec.error_key]
    shown = {"dataset_id", "preset_id", "hyperparameters", "gpu_config", "base_model", "name", "budget_limit"}
    extra = {key: value for key, value in request.items() if key not in shown}
    form_hp = {spec.name for spec in HYPERPARAMETER_FIELDS}
    hidden_hp = {k: v for k, v in (request.get("hyperparameters") or {}).items() if k not in form_hp}
    if hidden_hp:
        extra["hyperparameters"] = hidden_hp
    return str(preset_id), values, extra


def with_extra(payload: dict[str, Any], extra: object) -> dict[str, Any]:
    """The form's request with a cloned job's extra fields under it (the form's values win)."""
    if not isinstance(extra, dict):
        return payload
    merged = {**extra, **payload}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(payload.get(key), dict):
            merged[key] = {**value, **payload[key]}
    return merged


def empty_state(hidden: bool) -> html.Div:
    return html.Div(
        dbc.Alert(
            [
                html.H2("Upload a dataset first", className="h5"),
                html.P("A training job needs one of your datasets that is ready.", className="mb-2"),
                dcc.Link(
                    [html.I(className="bi bi-upload me-2", **aria(hidden=True)), "Go to datasets"],
                    href="/datasets",
                    className="btn btn-primary",
                ),
            ],
            color="info",
        ),
        id=EMPTY,
        hidden=hidden,
    )


def dataset_card(datasets: list[dict[str, Any]], selected: str | None) -> dbc.Card:
    options = dataset_options(datasets)
    value = (
        selected
        if any(o["value"] == selected for o in options)
        else (options[0]["value"] if options else None)
    )
    select = dbc.Select(id=field_id(DATASET_FIELD.name), options=options, value=value)
    body = dbc.Row(
        [
            labelled_field(DATASET_FIELD, select, md=8),
            dbc.Col(
                dcc.Link("Upload another dataset", href="/datasets", className="small"),
                md=4,
                className="mb-3 align-self-md-center",
            ),
        ]
    )
    return dbc.Card(
        [dbc.CardHeader(html.H2("Dataset", className="h6 mb-0")), dbc.CardBody(body)], className="mb-3"
    )


def preset_card(values: dict[str, Any], preset_id: str = DEFAULT_PRESET) -> dbc.Card:
    radios = dbc.RadioItems(
        id=PRESET,
        options=preset_options(PRESETS),
        value=preset_id,
        inline=True,
        className="btn-group preset-choice",
        input_class_name="btn-check",
        label_class_name="btn btn-outline-primary",
        label_checked_class_name="active",
    )
    fields = dbc.Row(
        [number_field(spec, values.get(spec.name), values.get(spec.name)) for spec in HYPERPARAMETER_FIELDS]
    )
    return dbc.Card(
        [
            dbc.CardHeader(html.H2("Preset and hyperparameters", className="h6 mb-0")),
            dbc.CardBody(
                [
                    html.Fieldset(
                        [html.Legend("Preset", className="visually-hidden"), radios],
                        className="mb-2",
                    ),
                    html.P(
                        preset_summary(PRESETS[preset_id]),
                        id=PRESET_HELP,
                        className="small text-body-secondary",
                    ),
                    fields,
                ]
            ),
        ],
        className="mb-3",
    )


def gpu_card(values: dict[str, Any]) -> dbc.Card:
    base_model = dbc.Select(
        id=field_id(BASE_MODEL_FIELD.name),
        options=base_model_options(),
        value=values[BASE_MODEL_FIELD.name],
        name=BASE_MODEL_FIELD.name,
    )
    gpu_type = dbc.Select(
        id=field_id(GPU_TYPE_FIELD.name), options=gpu_type_options(), value=values[GPU_TYPE_FIELD.name]
    )
    count = number_input(GPU_COUNT_FIELD, values[GPU_COUNT_FIELD.name], values[GPU_COUNT_FIELD.name])
    name = dbc.Input(
        id=field_id(NAME_FIELD.name),
        type="text",
        maxlength=100,
        name=NAME_FIELD.name,
        value=values.get(NAME_FIELD.name),
    )
    budget = number_input(BUDGET_FIELD, values.get(BUDGET_FIELD.name))
    return dbc.Card(
        [
            dbc.CardHeader(html.H2("Model, GPUs and run", className="h6 mb-0")),
            dbc.CardBody(
                dbc.Row(
                    [
                        labelled_field(BASE_MODEL_FIELD, base_model, md=5),
                        labelled_field(GPU_TYPE_FIELD, gpu_type, md=5),
                        labelled_field(GPU_COUNT_FIELD, count, md=2),
                        labelled_field(NAME_FIELD, name, md=8),
                        labelled_field(BUDGET_FIELD, budget, md=4),
                    ]
                )
            ),
        ],
        className="mb-3",
    )


def estimate_card() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(html.H2("Estimate", className="h6 mb-0")),
            dbc.CardBody(
                [
                    dcc.Loading(
                        html.Div(estimate_summary(None, "Calculating…"), id=ESTIMATE), delay_show=400
                    ),
                    html.Div(id=FORM_ERRORS),
                    html.Button(
                        [html.I(className="bi bi-play-fill me-1", **aria(hidden=True)), "Start training"],
                        id=SUBMIT,
                        type="button",
                        className="btn btn-primary w-100 mt-2",
                    ),
                    html.Div(id=SUBMIT_ERROR, className="mt-2", **aria(live="assertive")),
                    html.P(
                        "Estimates assume typical throughput; you are billed for the GPU time used.",
                        className="small text-body-secondary mt-2 mb-0",
                    ),
                ]
            ),
        ],
        className="configure-estimate-card",
    )
