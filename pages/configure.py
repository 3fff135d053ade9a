"""`/training/configure`: a new training job with a live estimate, field errors, and submit.

Every check and figure comes from the service layer that the JSON API uses (services.training_jobs
`estimate_job` / `create_job` through pages._configure_data, services.job_config presets): the page
only collects values, shows the service's per-field messages under their fields, and navigates to
the new job's monitor.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html

from components.health_form import health_card
from components.job_form import (
    FEEDBACK_TYPE,
    FIELD_TYPE,
    estimate_summary,
    feedback_outputs,
    field_id,
    form_payload,
    general_errors_alert,
    preset_summary,
    split_errors,
)
from pages._configure_data import create_queued_job, estimate_new_job, job_to_clone, ready_datasets
from pages._configure_layout import (
    CLONE_EXTRA,
    CLONED,
    ESTIMATE,
    FIXABLE,
    FORM,
    FORM_ERRORS,
    NOT_CREATED,
    PRESET,
    PRESET_FIELDS,
    PRESET_HELP,
    REDIRECT,
    SUBMIT,
    SUBMIT_ERROR,
    cloned_values,
    dataset_card,
    empty_state,
    estimate_card,
    gpu_card,
    preset_card,
    preset_values,
    with_extra,
)
from pages._signed_in import actor_name, require_user_id, signed_in_user_id
from services.errors import ValidationError
from services.job_config import DEFAULT_PRESET, PRESETS
from services.job_limits import LimitExceeded

dash.register_page(
    __name__, path="/training/configure", name="New job", title="New job · PIPELINE", nav_order=2
)


def _clone(user_id: int | None, query: dict[str, str]) -> tuple[str, dict[str, Any], dict[str, Any], Any]:
    """(preset, values, extra fields, note) for `?from=<job id>` (Clone, Retry), or the defaults."""
    source = query.get("from")
    found = job_to_clone(user_id, source) if user_id is not None and isinstance(source, str) else None
    if found is None:
        note = (
            dbc.Alert(
                "That job is not in your account: the form shows the defaults.", color="warning", id=CLONED
            )
            if source
            else html.Div(id=CLONED)
        )
        return DEFAULT_PRESET, preset_values(DEFAULT_PRESET), {}, note
    request, job = found
    preset_id, values, extra = cloned_values(request)
    label = job.get("name") or str(job["id"])[:8]
    note = dbc.Alert(
        f"Settings copied from job {label}. Change anything, then start training.",
        color="info",
        id=CLONED,
        className="py-2",
    )
    return preset_id, values, extra, note


def layout(dataset: str | None = None, **query: str) -> html.Div:
    """The form, prefilled from the default preset; `?dataset=<id>` preselects a dataset and
    `?from=<job id>` copies one of the user's jobs (the monitor's Clone and Retry)."""
    user_id = signed_in_user_id()
    datasets = ready_datasets(user_id) if user_id is not None else []
    preset_id, values, extra, note = _clone(user_id, query)
    chosen_dataset = dataset if dataset else values.get("dataset_id")
    has_datasets = bool(datasets) or user_id is None  # no user: Dash's validation skeleton
    form = dbc.Row(
        [
            dbc.Col(
                [
                    dataset_card(datasets, None if chosen_dataset is None else str(chosen_dataset)),
                    preset_card(values, preset_id),
                    gpu_card(values),
                    health_card(extra.get("health_checks")),
                ],
                lg=8,
            ),
            dbc.Col(estimate_card(), lg=4, className="configure-aside"),
        ],
        id=FORM,
        className="" if has_datasets else "d-none",
    )
    return html.Div(
        [
            dcc.Location(id=REDIRECT, refresh="callback-nav"),
            dcc.Store(id=CLONE_EXTRA, data=extra),
            html.H1("New training job", className="h3 mb-3"),
            note,
            empty_state(hidden=has_datasets),
            form,
        ],
        className="configure-page",
    )


def _form_values(items: list[dict[str, Any]]) -> dict[str, Any]:
    """{field name: value} from a pattern-matching ALL input's `[{id, property, value}]`."""
    return {item["id"]["name"]: item.get("value") for item in items}


@callback(
    [Output(field_id(spec.name), "value") for spec in PRESET_FIELDS],
    [Output(field_id(spec.name), "placeholder") for spec in PRESET_FIELDS],
    Output(PRESET_HELP, "children"),
    Input(PRESET, "value"),
    prevent_initial_call=True,
)
def apply_preset(preset_id: str | None) -> tuple[Any, ...]:
    """Choosing a preset fills every field with its defaults (the user may then override them)."""
    if preset_id is None or preset_id not in PRESETS:
        return (dash.no_update,) * (2 * len(PRESET_FIELDS) + 1)
    values = preset_values(preset_id)
    shown = [values[spec.name] for spec in PRESET_FIELDS]
    return (*shown, *(str(v) for v in shown), preset_summary(PRESETS[preset_id]))


@callback(
    Output(ESTIMATE, "children"),
    Output({"type": FIELD_TYPE, "name": ALL}, "invalid"),
    Output({"type": FEEDBACK_TYPE, "name": ALL}, "children"),
    Output(FORM_ERRORS, "children"),
    Input({"type": FIELD_TYPE, "name": ALL}, "value"),
    Input(PRESET, "value"),
    State(CLONE_EXTRA, "data"),
)
def live_estimate(
    _values: list[Any], preset_id: str | None, extra: object
) -> tuple[Any, list[bool], list[str], Any]:
    """Validate and price the form on every change; errors go under their fields."""
    values = _form_values(ctx.inputs_list[0])
    field_names = [item["id"]["name"] for item in ctx.outputs_list[1]]
    feedback_names = [item["id"]["name"] for item in ctx.outputs_list[2]]
    try:
        estimate, warning = estimate_new_job(
            require_user_id(), with_extra(form_payload(values, preset_id), extra)
        )
    except ValidationError as exc:
        by_field, general = split_errors(exc.errors)
        invalid, _ = feedback_outputs(field_names, by_field)
        _, messages = feedback_outputs(feedback_names, by_field)
        return estimate_summary(None, FIXABLE), invalid, messages, general_errors_alert(general)
    return (
        estimate_summary(estimate.as_dict(), budget_warning=warning),
        [False] * len(field_names),
        [""] * len(feedback_names),
        None,
    )


@callback(
    Output(REDIRECT, "href"),
    Output(SUBMIT_ERROR, "children"),
    Input(SUBMIT, "n_clicks"),
    State({"type": FIELD_TYPE, "name": ALL}, "value"),
    State(PRESET, "value"),
    State(CLONE_EXTRA, "data"),
    running=[(Output(SUBMIT, "disabled"), True, False)],
    prevent_initial_call=True,
)
def submit_job(
    n_clicks: int | None, _values: list[Any], preset_id: str | None, extra: object
) -> tuple[Any, Any]:
    """Create the queued job and go to its monitor; on refusal say why (fields are already flagged)."""
    if not n_clicks:
        return dash.no_update, dash.no_update
    values = _form_values(ctx.states_list[0])
    try:
        job_id = create_queued_job(
            require_user_id(), with_extra(form_payload(values, preset_id), extra), actor=actor_name()
        )
    except ValidationError as exc:
        _by_field, general = split_errors(exc.errors)
        message = f"The job was not created: {' '.join(general)}" if general else NOT_CREATED
        return dash.no_update, dbc.Alert(
            message, color="danger", className="mb-0 small", id="configure-not-created"
        )
    except LimitExceeded as exc:
        return dash.no_update, dbc.Alert(
            f"The job was not created: {exc.sentence}",
            color="danger",
            className="mb-0 small",
            id="configure-not-created",
        )
    return f"/training/jobs/{job_id}", None
