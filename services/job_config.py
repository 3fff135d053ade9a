"""What a training job is asked to do: presets, validation of hyperparameters and GPUs, and the
step/duration/cost estimate shown before the job is created.

Pure functions (no database): `resolve_job_config` turns a request body into a validated
`JobConfig` or raises `ValidationError` with one message per field; `estimate_job_config` prices it
against a dataset's size. The JSON API and the configure page both call these, so a value the page
accepts is a value the API accepts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from catalog.base_models import BASE_MODELS, DEFAULT_BASE_MODEL, BaseModel, find_base_model, fits_on
from catalog.gpus import GPU_TYPES, MAX_GPU_COUNT, GpuType, find_gpu_type, gpu_type_ids, valid_gpu_count
from catalog.health_checks import default_health_config
from services.costs import PricingError, format_money, hourly_rate
from services.errors import BIGINT_MAX, ValidationError
from services.health_config import parse_health_checks
from services.job_timing import startup_seconds, step_seconds, tokens_per_step

# Each preset names its default base model (catalog/base_models.py); the request may choose another.
PRESETS: dict[str, dict[str, Any]] = {
    "fast": {
        "base_model": "Qwen/Qwen2.5-0.5B",
        "hyperparameters": {
            "learning_rate": 3e-4,
            "batch_size": 16,
            "epochs": 1,
            "rank": 8,
            "alpha": 16,
            "dropout": 0.05,
            "max_seq_length": 1024,
        },
        "gpu_config": {"type": "A100-40GB", "count": 1},
    },
    "balanced": {
        "base_model": DEFAULT_BASE_MODEL,
        "hyperparameters": {
            "learning_rate": 2e-4,
            "batch_size": 8,
            "epochs": 3,
            "rank": 16,
            "alpha": 32,
            "dropout": 0.05,
            "max_seq_length": 2048,
        },
        "gpu_config": {"type": "A100-80GB", "count": 1},
    },
    "quality": {
        "base_model": "meta-llama/Llama-3.1-8B",
        "hyperparameters": {
            "learning_rate": 1e-4,
            "batch_size": 8,
            "epochs": 5,
            "rank": 64,
            "alpha": 128,
            "dropout": 0.1,
            "max_seq_length": 4096,
        },
        "gpu_config": {"type": "H100", "count": 2},
    },
}
DEFAULT_PRESET = "balanced"


@dataclass(frozen=True)
class NumberRule:
    """Allowed range of one hyperparameter; `integer` refuses fractions."""

    minimum: float
    maximum: float
    integer: bool
    min_inclusive: bool = True


# Bounds are "absurd beyond this", not tuning advice: they catch typos (lr=2 instead of 2e-4).
HYPERPARAMETER_RULES: dict[str, NumberRule] = {
    "learning_rate": NumberRule(0.0, 0.1, integer=False, min_inclusive=False),
    "batch_size": NumberRule(1, 1024, integer=True),
    "epochs": NumberRule(1, 100, integer=True),
    "rank": NumberRule(1, 512, integer=True),
    "alpha": NumberRule(0.0, 4096, integer=False, min_inclusive=False),
    "dropout": NumberRule(0.0, 0.9, integer=False),
    "max_seq_length": NumberRule(16, 32768, integer=True),
}
TOP_LEVEL_FIELDS = frozenset(
    {
        "dataset_id",
        "preset_id",
        "base_model",
        "hyperparameters",
        "gpu_config",
        "name",
        "budget_limit",
        "health_checks",
    }
)
GPU_FIELDS = frozenset({"type", "count"})
NAME_LIMIT = 100
MAX_BUDGET = Decimal("1000000")


@dataclass(frozen=True)
class JobConfig:
    """A validated job request; `hyperparameters` has every field filled (preset, then overrides)."""

    dataset_id: int
    preset_id: str
    hyperparameters: dict[str, Any]
    gpu_config: dict[str, Any]
    name: str | None = None
    budget_limit: Decimal | None = None
    base_model: str = DEFAULT_BASE_MODEL
    health_checks: dict[str, Any] = dataclasses.field(
        default_factory=default_health_config
    )  # services/health_config.py


@dataclass(frozen=True)
class JobEstimate:
    total_epochs: int
    steps_per_epoch: int
    total_steps: int
    tokens_per_step: int
    seconds_per_step: float
    estimated_seconds: int
    hourly_rate: Decimal
    estimated_total_cost: Decimal

    def as_dict(self) -> dict[str, Any]:
        """JSON shape: money as strings with 4 decimals (never float)."""
        return {
            "total_epochs": self.total_epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "tokens_per_step": self.tokens_per_step,
            "seconds_per_step": round(self.seconds_per_step, 4),
            "estimated_seconds": self.estimated_seconds,
            "hourly_rate": str(self.hourly_rate.quantize(Decimal("0.0001"))),
            "estimated_total_cost": str(self.estimated_total_cost),
        }


def _number(field: str, value: Any, rule: NumberRule, errors: dict[str, str]) -> float | int | None:
    """The value if it is a finite number within `rule`; otherwise records why and returns None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors[field] = "must be a number"
        return None
    if not math.isfinite(value):
        errors[field] = "must be a finite number"
        return None
    if rule.integer:
        if isinstance(value, float) and not value.is_integer():
            errors[field] = "must be a whole number"
            return None
        value = int(value)
    low_ok = value >= rule.minimum if rule.min_inclusive else value > rule.minimum
    if not low_ok or value > rule.maximum:
        low = "at least" if rule.min_inclusive else "greater than"
        errors[field] = f"must be {low} {rule.minimum:g} and at most {rule.maximum:g}"
        return None
    return value


def _mapping(payload: Mapping[str, Any], key: str, errors: dict[str, str]) -> Mapping[str, Any]:
    value = payload.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors[key] = "must be an object"
        return {}
    return value


def _unknown(prefix: str, given: Mapping[str, Any], allowed: frozenset[str], errors: dict[str, str]) -> None:
    for key in given:
        if key not in allowed:
            errors[f"{prefix}{key}"] = "unknown field"


def _dataset_id(value: Any, errors: dict[str, str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= BIGINT_MAX:
        errors["dataset_id"] = "required: the id of one of your ready datasets"
        return 0
    return value


def resolve_job_config(payload: Mapping[str, Any]) -> JobConfig:
    """Validate a job request body and fill defaults from its preset (explicit fields win).

    `None` for a hyperparameter or GPU field means "not given" (a cleared form input), so the preset's
    value is used. Unknown fields are refused so a typo (`learning_rat`) never silently trains
    with the default.

    Raises:
        ValidationError: one entry per bad field, keyed `hyperparameters.rank`, `gpu_config.type`...
    """
    errors: dict[str, str] = {}
    if not isinstance(payload, Mapping):
        raise ValidationError({"body": "must be a JSON object"})
    _unknown("", payload, TOP_LEVEL_FIELDS, errors)
    dataset_id = _dataset_id(payload.get("dataset_id"), errors)
    preset_id = payload.get("preset_id") or DEFAULT_PRESET
    if not isinstance(preset_id, str) or preset_id not in PRESETS:
        errors["preset_id"] = f"must be one of {', '.join(PRESETS)}"
        preset_id = DEFAULT_PRESET
    preset = PRESETS[preset_id]

    given_hp = _mapping(payload, "hyperparameters", errors)
    _unknown("hyperparameters.", given_hp, frozenset(HYPERPARAMETER_RULES), errors)
    hyperparameters: dict[str, Any] = {}
    for field, rule in HYPERPARAMETER_RULES.items():
        value = given_hp.get(field)
        if value is None:
            value = preset["hyperparameters"][field]
        checked = _number(f"hyperparameters.{field}", value, rule, errors)
        if checked is not None:
            hyperparameters[field] = checked

    given_gpu = _mapping(payload, "gpu_config", errors)
    _unknown("gpu_config.", given_gpu, GPU_FIELDS, errors)
    gpu_type = given_gpu.get("type") or preset["gpu_config"]["type"]
    gpu_count = given_gpu.get("count")
    gpu_count = preset["gpu_config"]["count"] if gpu_count is None else gpu_count
    if find_gpu_type(gpu_type) is None:
        errors["gpu_config.type"] = f"unknown GPU type; choose one of {', '.join(gpu_type_ids())}"
    if isinstance(gpu_count, float) and gpu_count.is_integer():
        gpu_count = int(gpu_count)
    if not valid_gpu_count(gpu_count):
        errors["gpu_config.count"] = f"must be a whole number from 1 to {MAX_GPU_COUNT}"

    given_model = payload.get("base_model")
    model_id = preset["base_model"] if given_model in (None, "") else given_model
    base_model = _base_model(model_id, find_gpu_type(gpu_type), errors)
    name = _name(payload.get("name"), errors)
    budget = _budget(payload.get("budget_limit"), errors)
    health_checks = parse_health_checks(payload.get("health_checks"), errors)
    if errors:
        raise ValidationError(errors)
    return JobConfig(
        dataset_id=dataset_id,
        preset_id=preset_id,
        hyperparameters=hyperparameters,
        gpu_config={"type": gpu_type, "count": gpu_count},
        name=name,
        budget_limit=budget,
        base_model=base_model.hub_id if base_model else DEFAULT_BASE_MODEL,
        health_checks=health_checks,
    )


def base_model_problem(hub_id: object, gpu: GpuType | None) -> str | None:
    """Why `hub_id` cannot be trained on GPUs of type `gpu` (None: it can, or the GPU is unknown).

    Data parallel: every GPU holds the whole model, so the count does not help (docs/architecture.md §2a).
    """
    model = find_base_model(hub_id)
    if model is None:
        return f"unknown base model {str(hub_id)[:100]!r}; choose one of {', '.join(BASE_MODELS)}"
    if gpu is not None and not fits_on(model, gpu):
        return (
            f"{model.display_name} needs {model.lora_memory_gb:g} GB per GPU for LoRA training; "
            f"a {gpu.id} has {gpu.memory_gb} GB: choose a GPU with more memory or a smaller model"
        )
    return None


def _base_model(hub_id: object, gpu: GpuType | None, errors: dict[str, str]) -> BaseModel | None:
    problem = base_model_problem(hub_id, gpu)
    if problem is not None:
        errors["base_model"] = problem
        return None
    return find_base_model(hub_id)


def _name(value: Any, errors: dict[str, str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value.strip()) > NAME_LIMIT:
        errors["name"] = f"must be text of at most {NAME_LIMIT} characters"
        return None
    return value.strip() or None


def _budget(value: Any, errors: dict[str, str]) -> Decimal | None:
    """Optional spending cap in dollars; given as a string or number, stored as exact Decimal."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        errors["budget_limit"] = "must be an amount in dollars"
        return None
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        errors["budget_limit"] = "must be an amount in dollars"
        return None
    if not amount.is_finite() or amount <= 0 or amount > MAX_BUDGET:
        errors["budget_limit"] = f"must be more than 0 and at most {MAX_BUDGET}"
        return None
    return amount.quantize(Decimal("0.0001"))


def estimate_job_config(config: JobConfig, total_training_pairs: int, total_tokens: int) -> JobEstimate:
    """Steps, duration and cost of `config` on a dataset of the given size.

    steps = ceil(pairs / batch_size) × epochs, timed by services/job_timing.py (the model the
    simulated cluster runs on too): start-up by the base model's size, each step by the GPU's
    sustained rate, the model's `speed_factor` and LoRA's rank. Raises `ValidationError` for an unpriceable GPU (cannot happen
    for a config from `resolve_job_config`).
    """
    hp = config.hyperparameters
    try:
        rate = hourly_rate(config.gpu_config.get("type"), config.gpu_config.get("count"))
    except PricingError as exc:
        raise ValidationError({"gpu_config": str(exc)}) from None
    pairs = max(int(total_training_pairs), 1)
    steps_per_epoch = math.ceil(pairs / hp["batch_size"])
    total_steps = steps_per_epoch * hp["epochs"]
    tokens = tokens_per_step(hp["batch_size"], pairs, total_tokens, hp["max_seq_length"])
    count = int(config.gpu_config["count"])
    gpu = GPU_TYPES[config.gpu_config["type"]]  # hourly_rate accepted the type
    model = find_base_model(config.base_model) or BASE_MODELS[DEFAULT_BASE_MODEL]
    per_step = step_seconds(model, gpu, count, tokens, hp["rank"])
    seconds = startup_seconds(model) + total_steps * per_step
    cost = (rate * Decimal(str(seconds)) / Decimal(3600)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return JobEstimate(
        total_epochs=int(hp["epochs"]),
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        tokens_per_step=tokens,
        seconds_per_step=per_step,
        estimated_seconds=math.ceil(seconds),
        hourly_rate=rate,
        estimated_total_cost=cost,
    )


def budget_warning(estimated_total_cost: Decimal, budget_limit: Decimal | None) -> str | None:
    """What to tell the user before they submit a job whose estimate is over its budget, or None.

    Not a refusal: a partial run may be what they want, and an estimate is only an estimate. The
    processor stops such a job before its cost passes the budget (jobs/budgets.py).
    """
    if budget_limit is None or estimated_total_cost <= budget_limit:
        return None
    return (
        f"The estimated cost {format_money(estimated_total_cost)} is over the budget limit "
        f"{format_money(budget_limit)}: the job will be stopped when its cost is about to reach "
        "the budget, before it finishes."
    )
