"""Pure builders for the new-job form: fields, per-field errors and the live estimate panel.

The page (pages/configure.py) wires callbacks; every value shown here comes from the service
layer (presets, validation, estimate), so the browser and the JSON API can never disagree on
what a valid job is. This module only decides how fields, errors and figures look.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import dash_bootstrap_components as dbc
from dash import html

from catalog.base_models import BASE_MODELS
from catalog.gpus import GPU_TYPES, MAX_GPU_COUNT
from catalog.health_checks import HEALTH_CHECKS
from components.aria import aria
from components.formatters import MISSING, format_duration, parse_money
from services.costs import format_money

FIELD_TYPE = "configure-field"
FEEDBACK_TYPE = "configure-feedback"


class FieldSpec(NamedTuple):
    name: str  # the form's field name; also the last part of the service's error key
    label: str
    error_key: str  # the service layer's error path, e.g. ``hyperparameters.rank``
    help: str
    integer: bool = False  # only picks the phone keyboard; the service judges whole numbers


HYPERPARAMETER_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("learning_rate", "Learning rate", "hyperparameters.learning_rate", "e.g. 0.0002"),
    FieldSpec("batch_size", "Batch size", "hyperparameters.batch_size", "Pairs per step", True),
    FieldSpec("epochs", "Epochs", "hyperparameters.epochs", "Passes over the dataset", True),
    FieldSpec("rank", "LoRA rank", "hyperparameters.rank", "Adapter rank r", True),
    FieldSpec("alpha", "LoRA alpha", "hyperparameters.alpha", "Scaling; often 2 × rank"),
    FieldSpec("dropout", "Dropout", "hyperparameters.dropout", "0 to 0.9"),
    FieldSpec("max_seq_length", "Max sequence length", "hyperparameters.max_seq_length", "Tokens", True),
)
DATASET_FIELD = FieldSpec("dataset_id", "Dataset", "dataset_id", "")
BASE_MODEL_FIELD = FieldSpec(
    "base_model", "Base model", "base_model", "What the adapter fine-tunes; presets pick one"
)
GPU_TYPE_FIELD = FieldSpec("gpu_type", "GPU type", "gpu_config.type", "")
GPU_COUNT_FIELD = FieldSpec("gpu_count", "GPU count", "gpu_config.count", f"1 to {MAX_GPU_COUNT}", True)
NAME_FIELD = FieldSpec("name", "Job name", "name", "Optional; shown in lists and notifications")
BUDGET_FIELD = FieldSpec("budget_limit", "Budget limit ($)", "budget_limit", "Optional spending cap")

# The configure page's advanced section: each health check's action and thresholds
# (catalog/health_checks.py); empty means the catalogue default (components/health_form.py lays them out).
HEALTH_FIELDS: tuple[FieldSpec, ...] = tuple(
    spec
    for check in HEALTH_CHECKS
    for spec in (
        FieldSpec(f"health_{check.id}_action", "When it fires", f"health_checks.{check.id}.action", ""),
        *(
            FieldSpec(
                f"health_{check.id}_{p.name}",
                p.label.capitalize(),
                f"health_checks.{check.id}.{p.name}",
                f"{p.low:g} to {p.high:g}",
                p.integer,
            )
            for p in check.parameters
        ),
    )
)

# Every control that shows its own error, in the order the page lays them out. Errors on
# anything else (the preset, the body) go to the form-level alert instead of being lost.
ALL_FIELDS: tuple[FieldSpec, ...] = (
    DATASET_FIELD,
    BASE_MODEL_FIELD,
    *HYPERPARAMETER_FIELDS,
    GPU_TYPE_FIELD,
    GPU_COUNT_FIELD,
    NAME_FIELD,
    BUDGET_FIELD,
    *HEALTH_FIELDS,
)
_BY_ERROR_KEY = {spec.error_key: spec.name for spec in ALL_FIELDS}
# The service may report a whole group ("gpu_config": "...") or a nested key; map groups too.
_GROUP_KEYS = {"gpu_config": GPU_TYPE_FIELD.name, "hyperparameters": None}


def field_id(name: str) -> dict[str, str]:
    """Pattern-matching id of a form control; one generic callback reads and flags them all."""
    return {"type": FIELD_TYPE, "name": name}


def feedback_id(name: str) -> dict[str, str]:
    return {"type": FEEDBACK_TYPE, "name": name}


def dom_id(component_id: Mapping[str, Any]) -> str:
    """The DOM id Dash renders for a dict id (sorted keys, JSON values), for ``<label for>``."""
    parts = (f"{json.dumps(key)}:{json.dumps(component_id[key])}" for key in sorted(component_id))
    return "{" + ",".join(parts) + "}"


def gpu_type_options() -> list[dict[str, str]]:
    """``A100-80GB · $3.50/h per GPU`` for each GPU type of the catalogue (catalog/gpus.py)."""
    return [
        {"label": f"{gpu.id} · {format_money(gpu.hourly_price)}/h per GPU", "value": gpu.id}
        for gpu in GPU_TYPES.values()
    ]


def base_model_options() -> list[dict[str, str]]:
    """``Mistral 7B v0.1 · 19.4 GB/GPU`` (LoRA memory) for each model of catalog/base_models.py."""
    return [
        {"label": f"{model.display_name} · {model.lora_memory_gb:g} GB/GPU", "value": model.hub_id}
        for model in BASE_MODELS.values()
    ]


def dataset_options(datasets: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Select options for the user's ready datasets: ``name (1,234 pairs)``; the value is the id."""
    return [
        {"label": f"{d['name']} ({int(d.get('total_training_pairs') or 0):,} pairs)", "value": str(d["id"])}
        for d in datasets
    ]


def preset_options(presets: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """Radio options for presets, in the service's order, labelled by name."""
    return [{"label": name.capitalize(), "value": name} for name in presets]


def preset_summary(preset: Mapping[str, Any]) -> str:
    """One line that says what a preset means: ``3 epochs · rank 16 · lr 0.0002 · A100-80GB × 1``."""
    hp = preset.get("hyperparameters") or {}
    gpu = preset.get("gpu_config") or {}
    epochs = hp.get("epochs")
    parts = []
    if epochs is not None:
        parts.append(f"{epochs} epoch{'s' if epochs != 1 else ''}")
    if hp.get("rank") is not None:
        parts.append(f"rank {hp['rank']}")
    if hp.get("learning_rate") is not None:
        parts.append(f"lr {hp['learning_rate']:g}")
    if gpu.get("type"):
        parts.append(f"{gpu['type']} × {gpu.get('count', 1)}")
    return " · ".join(parts)


def split_errors(errors: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Service errors → (messages by form field name, messages no single field owns).

    Keys are the service's paths (``hyperparameters.rank``, ``gpu_config.count``, ``dataset_id``).
    A key that matches no field (an unknown hyperparameter, a whole-form problem) must still be
    shown, so it is returned in the second list with its key as context.
    """
    by_field: dict[str, str] = {}
    general: list[str] = []
    for key, message in errors.items():
        name = _BY_ERROR_KEY.get(key) or _GROUP_KEYS.get(key)
        if name is None:
            general.append(message if key in ("", "form", "hyperparameters") else f"{key}: {message}")
        elif name not in by_field:
            by_field[name] = message
    return by_field, general


def feedback_outputs(field_names: Iterable[str], by_field: Mapping[str, str]) -> tuple[list[bool], list[str]]:
    """The ``invalid`` flag and FormFeedback text for each field, in ``field_names`` order."""
    names = list(field_names)
    return [name in by_field for name in names], [_sentence(by_field.get(name, "")) for name in names]


def _sentence(message: str) -> str:
    """The service's messages are fragments ("must be a number"); under a field they start a sentence."""
    return message[:1].upper() + message[1:]


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def form_payload(values: Mapping[str, Any], preset_id: str | None) -> dict[str, Any]:
    """Form values (by field name) → the service's job request body, the same one the API takes.

    An empty control means "not given": it is left out so the preset's default applies (the
    field's placeholder shows that default). Values are passed through unconverted otherwise, so
    the one validator (services.job_config) judges them and its messages land on the right field.
    """
    raw_dataset = values.get(DATASET_FIELD.name)
    dataset_id: Any = None
    if _given(raw_dataset):
        text = str(raw_dataset).strip()
        dataset_id = int(text) if text.isascii() and text.isdigit() else text
    payload: dict[str, Any] = {
        "dataset_id": dataset_id,
        "preset_id": preset_id,
        "hyperparameters": {
            spec.name: values[spec.name] for spec in HYPERPARAMETER_FIELDS if _given(values.get(spec.name))
        },
        "gpu_config": {
            key: values[name]
            for key, name in (("type", GPU_TYPE_FIELD.name), ("count", GPU_COUNT_FIELD.name))
            if _given(values.get(name))
        },
    }
    if _given(values.get(BASE_MODEL_FIELD.name)):
        payload["base_model"] = values[BASE_MODEL_FIELD.name]
    name = values.get(NAME_FIELD.name)
    if _given(name):
        payload["name"] = str(name).strip()
    if _given(values.get(BUDGET_FIELD.name)):
        payload["budget_limit"] = values[BUDGET_FIELD.name]
    health: dict[str, dict[str, Any]] = {}
    for spec in HEALTH_FIELDS:
        if _given(values.get(spec.name)):
            _, check_id, setting = spec.error_key.split(".")
            health.setdefault(check_id, {})[setting] = values[spec.name]
    if health:
        payload["health_checks"] = health
    return payload


def number_input(spec: FieldSpec, value: Any = None, placeholder: Any = None) -> dbc.Input:
    """A number control that reports every keystroke (no debounce: a submit right after typing
    must see the typed value) and never lets the browser's own step/min checks turn a value into
    "empty": ``step="any"`` and no min/max, so 8.5 reaches the service and gets its message."""
    return dbc.Input(
        id=field_id(spec.name),
        type="number",
        step="any",
        value=value,
        placeholder=str(placeholder) if placeholder is not None else None,
        inputmode="numeric" if spec.integer else "decimal",
        name=spec.name,
    )


def labelled_field(spec: FieldSpec, control: Any, **col: Any) -> dbc.Col:
    """Label, control, feedback slot and help text; the label is the control's accessible name."""
    return dbc.Col(
        [
            dbc.Label(spec.label, html_for=dom_id(field_id(spec.name)), className="small fw-semibold mb-1"),
            control,
            dbc.FormFeedback(id=feedback_id(spec.name), type="invalid"),
            dbc.FormText(spec.help) if spec.help else None,
        ],
        className="mb-3",
        **col,
    )


def number_field(spec: FieldSpec, value: Any = None, placeholder: Any = None) -> dbc.Col:
    """A hyperparameter's column in the form grid: two per row on phones, up to four when wide."""
    return labelled_field(spec, number_input(spec, value, placeholder), xs=6, md=4, xl=3)


def _figure(label: str, value: str, test_id: str) -> html.Div:
    return html.Div(
        [
            html.Dt(label, className="estimate__label"),
            html.Dd(value, className="estimate__value", id=test_id),
        ],
        className="estimate__item",
    )


def estimate_summary(
    estimate: Mapping[str, Any] | None, problem: str | None = None, budget_warning: str | None = None
) -> html.Div:
    """The live estimate: steps, duration, cost, and the hourly rate they come from.

    ``estimate`` is the service's ``JobEstimate.as_dict()``: ``total_steps``, ``total_epochs``,
    ``estimated_seconds``, ``estimated_total_cost`` and ``hourly_rate`` (decimal strings). With ``problem`` set (the form has errors) the figures show dashes and the
    reason, so a stale estimate is never mistaken for the current one. ``budget_warning``
    (``services.job_config.budget_warning``) says, before the user submits, that the job would be
    stopped at its budget limit before it finishes.
    """
    data = estimate or {}
    steps = data.get("total_steps")
    epochs = data.get("total_epochs")
    rate = parse_money(data.get("hourly_rate"))
    items = [
        _figure(
            "Steps", f"{int(steps):,}" if steps is not None and not problem else MISSING, "estimate-steps"
        ),
        _figure(
            "Duration",
            format_duration(data.get("estimated_seconds")) if not problem else MISSING,
            "estimate-duration",
        ),
        _figure(
            "Cost",
            format_money(parse_money(data.get("estimated_total_cost"))) if not problem else MISSING,
            "estimate-cost",
        ),
    ]
    notes: list[Any] = []
    if problem:
        notes.append(html.P(problem, className="small text-danger-emphasis mb-0", id="estimate-problem"))
    else:
        detail = []
        if epochs:
            detail.append(f"{int(epochs):,} epoch{'s' if int(epochs) != 1 else ''}")
        if rate is not None:
            detail.append(f"at {format_money(rate)}/h")
        if detail:
            notes.append(html.P(" · ".join(detail), className="small text-body-secondary mb-0"))
        if budget_warning:
            notes.append(
                html.P(
                    [
                        html.I(className="bi bi-exclamation-triangle me-1", **aria(hidden=True)),
                        budget_warning,
                    ],
                    className="small text-warning-emphasis mt-2 mb-0",
                    id="estimate-budget-warning",
                )
            )
    return html.Div(
        [html.Dl(items, className="estimate mb-2"), *notes],
        className="estimate-summary",
        **aria(live="polite"),
    )


def general_errors_alert(messages: list[str]) -> dbc.Alert | None:
    """Form-level problems (no single field to attach them to), or the submit's failure."""
    if not messages:
        return None
    body: Any = (
        messages[0] if len(messages) == 1 else html.Ul([html.Li(m) for m in messages], className="mb-0")
    )
    return dbc.Alert(body, color="danger", className="mb-3", id="configure-form-error")
