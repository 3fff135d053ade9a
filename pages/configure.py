"""`/training/configure`: a new training job with a live estimate, field errors, and submit.

Every check and figure comes from the service layer that the JSON API uses (db.training_jobs
`estimate_job` / `create_job`, db.job_config presets): the page only collects values, shows
the service's per-field messages under their fields, and navigates to the new job's monitor.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html

from api.runtime import get_runtime
from components.aria import aria
from components.job_form import (
    BUDGET_FIELD,
    DATASET_FIELD,
    FEEDBACK_TYPE,
    FIELD_TYPE,
    GPU_COUNT_FIELD,
    GPU_TYPE_FIELD,
    HYPERPARAMETER_FIELDS,
    NAME_FIELD,
    dataset_options,
    estimate_summary,
    feedback_outputs,
    field_id,
    form_payload,
    general_errors_alert,
    gpu_type_options,
    labelled_field,
    number_field,
    number_input,
    preset_options,
    preset_summary,
    split_errors,
)
from db.errors import ValidationError
from db.job_config import DEFAULT_PRESET, PRESETS
from db.training_jobs import create_job, estimate_job
from pages._datasets_read import ready_datasets
from pages._signed_in import actor_name, require_user_id, signed_in_user_id

dash.register_page(
    __name__, path="/training/configure", name="New job", title="New job · PIPELINE", nav_order=2
)

REDIRECT = "configure-redirect"
PRESET = "configure-preset"
PRESET_HELP = "configure-preset-help"
ESTIMATE = "configure-estimate"
SUBMIT = "configure-submit"
SUBMIT_ERROR = "configure-submit-error"
FORM_ERRORS = "configure-form-errors"
EMPTY = "configure-empty"
FORM = "configure-form"
FIXABLE = "Fix the highlighted fields to see the estimate."
NOT_CREATED = "The job was not created: fix the highlighted fields."
_PRESET_FIELDS = (*HYPERPARAMETER_FIELDS, GPU_TYPE_FIELD, GPU_COUNT_FIELD)


def _preset_values(preset_id: str) -> dict[str, Any]:
    preset = PRESETS[preset_id]
    return {
        **preset["hyperparameters"],
        GPU_TYPE_FIELD.name: preset["gpu_config"]["type"],
        GPU_COUNT_FIELD.name: preset["gpu_config"]["count"],
    }


def _empty_state(hidden: bool) -> html.Div:
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


def _dataset_card(datasets: list[dict[str, Any]], selected: str | None) -> dbc.Card:
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


def _preset_card(values: dict[str, Any]) -> dbc.Card:
    radios = dbc.RadioItems(
        id=PRESET,
        options=preset_options(PRESETS),
        value=DEFAULT_PRESET,
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
                        preset_summary(PRESETS[DEFAULT_PRESET]),
                        id=PRESET_HELP,
                        className="small text-body-secondary",
                    ),
                    fields,
                ]
            ),
        ],
        className="mb-3",
    )


def _gpu_card(values: dict[str, Any]) -> dbc.Card:
    gpu_type = dbc.Select(
        id=field_id(GPU_TYPE_FIELD.name), options=gpu_type_options(), value=values[GPU_TYPE_FIELD.name]
    )
    count = number_input(GPU_COUNT_FIELD, values[GPU_COUNT_FIELD.name], values[GPU_COUNT_FIELD.name])
    name = dbc.Input(id=field_id(NAME_FIELD.name), type="text", maxlength=100, name=NAME_FIELD.name)
    budget = number_input(BUDGET_FIELD)
    return dbc.Card(
        [
            dbc.CardHeader(html.H2("GPUs and run", className="h6 mb-0")),
            dbc.CardBody(
                dbc.Row(
                    [
                        labelled_field(GPU_TYPE_FIELD, gpu_type, md=8),
                        labelled_field(GPU_COUNT_FIELD, count, md=4),
                        labelled_field(NAME_FIELD, name, md=8),
                        labelled_field(BUDGET_FIELD, budget, md=4),
                    ]
                )
            ),
        ],
        className="mb-3",
    )


def _estimate_card() -> dbc.Card:
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


def layout(dataset: str | None = None, **_query: str) -> html.Div:
    """The form, prefilled from the default preset; `?dataset=<id>` preselects a dataset."""
    user_id = signed_in_user_id()
    datasets = ready_datasets(user_id) if user_id is not None else []
    values = _preset_values(DEFAULT_PRESET)
    has_datasets = bool(datasets) or user_id is None  # no user: Dash's validation skeleton
    form = dbc.Row(
        [
            dbc.Col([_dataset_card(datasets, dataset), _preset_card(values), _gpu_card(values)], lg=8),
            dbc.Col(_estimate_card(), lg=4, className="configure-aside"),
        ],
        id=FORM,
        className="" if has_datasets else "d-none",
    )
    return html.Div(
        [
            dcc.Location(id=REDIRECT, refresh="callback-nav"),
            html.H1("New training job", className="h3 mb-3"),
            _empty_state(hidden=has_datasets),
            form,
        ],
        className="configure-page",
    )


def _form_values(items: list[dict[str, Any]]) -> dict[str, Any]:
    """{field name: value} from a pattern-matching ALL input's `[{id, property, value}]`."""
    return {item["id"]["name"]: item.get("value") for item in items}


@callback(
    [Output(field_id(spec.name), "value") for spec in _PRESET_FIELDS],
    [Output(field_id(spec.name), "placeholder") for spec in _PRESET_FIELDS],
    Output(PRESET_HELP, "children"),
    Input(PRESET, "value"),
    prevent_initial_call=True,
)
def apply_preset(preset_id: str | None) -> tuple[Any, ...]:
    """Choosing a preset fills every field with its defaults (the user may then override them)."""
    if preset_id is None or preset_id not in PRESETS:
        return (dash.no_update,) * (2 * len(_PRESET_FIELDS) + 1)
    values = _preset_values(preset_id)
    shown = [values[spec.name] for spec in _PRESET_FIELDS]
    return (*shown, *(str(v) for v in shown), preset_summary(PRESETS[preset_id]))


@callback(
    Output(ESTIMATE, "children"),
    Output({"type": FIELD_TYPE, "name": ALL}, "invalid"),
    Output({"type": FEEDBACK_TYPE, "name": ALL}, "children"),
    Output(FORM_ERRORS, "children"),
    Input({"type": FIELD_TYPE, "name": ALL}, "value"),
    Input(PRESET, "value"),
)
def live_estimate(_values: list[Any], preset_id: str | None) -> tuple[Any, list[bool], list[str], Any]:
    """Validate and price the form on every change; errors go under their fields."""
    values = _form_values(ctx.inputs_list[0])
    field_names = [item["id"]["name"] for item in ctx.outputs_list[1]]
    feedback_names = [item["id"]["name"] for item in ctx.outputs_list[2]]
    try:
        with get_runtime().transaction() as session:
            _config, estimate = estimate_job(session, require_user_id(), form_payload(values, preset_id))
    except ValidationError as exc:
        by_field, general = split_errors(exc.errors)
        invalid, _ = feedback_outputs(field_names, by_field)
        _, messages = feedback_outputs(feedback_names, by_field)
        return estimate_summary(None, FIXABLE), invalid, messages, general_errors_alert(general)
    return estimate_summary(estimate.as_dict()), [False] * len(field_names), [""] * len(feedback_names), None


@callback(
    Output(REDIRECT, "href"),
    Output(SUBMIT_ERROR, "children"),
    Input(SUBMIT, "n_clicks"),
    State({"type": FIELD_TYPE, "name": ALL}, "value"),
    State(PRESET, "value"),
    running=[(Output(SUBMIT, "disabled"), True, False)],
    prevent_initial_call=True,
)
def submit_job(n_clicks: int | None, _values: list[Any], preset_id: str | None) -> tuple[Any, Any]:
    """Create the queued job and go to its monitor; on refusal say why (fields are already flagged)."""
    if not n_clicks:
        return dash.no_update, dash.no_update
    values = _form_values(ctx.states_list[0])
    try:
        with get_runtime().transaction() as session:
            job, _estimate = create_job(
                session, require_user_id(), form_payload(values, preset_id), actor=actor_name()
            )
            job_id = str(job.id)
    except ValidationError as exc:
        _by_field, general = split_errors(exc.errors)
        message = f"The job was not created: {' '.join(general)}" if general else NOT_CREATED
        return dash.no_update, dbc.Alert(
            message, color="danger", className="mb-0 small", id="configure-not-created"
        )
    return f"/training/jobs/{job_id}", None
