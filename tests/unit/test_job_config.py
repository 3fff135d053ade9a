"""Job requests: presets fill defaults, explicit values win, every bad field is named, estimates add up."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from catalog.base_models import BASE_MODELS, find_base_model
from catalog.gpus import GPU_TYPES, GpuType
from services.errors import ValidationError
from services.job_config import (
    PRESETS,
    JobConfig,
    budget_warning,
    estimate_job_config,
    resolve_job_config,
)


def _errors(payload: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        resolve_job_config(payload)
    return caught.value.errors


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_alone_is_a_valid_job(preset: str) -> None:
    config = resolve_job_config({"dataset_id": 1, "preset_id": preset})
    assert config.hyperparameters == PRESETS[preset]["hyperparameters"]
    assert config.gpu_config == PRESETS[preset]["gpu_config"]


def test_explicit_values_override_and_none_means_preset() -> None:
    config = resolve_job_config(
        {
            "dataset_id": 3,
            "preset_id": "fast",
            "hyperparameters": {"rank": 32, "epochs": None, "batch_size": 4.0},
            "gpu_config": {"count": 4},
            "name": "  nightly  ",
            "budget_limit": "25.5",
        }
    )
    assert config.hyperparameters["rank"] == 32
    assert config.hyperparameters["epochs"] == PRESETS["fast"]["hyperparameters"]["epochs"]
    assert config.hyperparameters["batch_size"] == 4
    assert isinstance(config.hyperparameters["batch_size"], int)
    assert config.gpu_config == {"type": "A100-40GB", "count": 4}
    assert config.name == "nightly"
    assert config.budget_limit == Decimal("25.5000")


def test_default_preset_is_balanced() -> None:
    assert resolve_job_config({"dataset_id": 1}).preset_id == "balanced"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "dataset_id"),
        ({"dataset_id": 0}, "dataset_id"),
        ({"dataset_id": True}, "dataset_id"),
        ({"dataset_id": 1, "hyperparameters": {"learning_rate": -1e-4}}, "hyperparameters.learning_rate"),
        ({"dataset_id": 1, "hyperparameters": {"learning_rate": math.inf}}, "hyperparameters.learning_rate"),
        ({"dataset_id": 1, "hyperparameters": {"learning_rate": math.nan}}, "hyperparameters.learning_rate"),
        ({"dataset_id": 1, "hyperparameters": {"alpha": 0}}, "hyperparameters.alpha"),
        ({"dataset_id": 1, "hyperparameters": {"batch_size": 2.5}}, "hyperparameters.batch_size"),
        ({"dataset_id": 1, "gpu_config": "H100"}, "gpu_config"),
        ({"dataset_id": 1, "gpu_config": {"type": "H100", "count": True}}, "gpu_config.count"),
        ({"dataset_id": 1, "gpu_config": {"type": "H100", "count": 1, "vram": 80}}, "gpu_config.vram"),
        ({"dataset_id": 1, "budget_limit": "lots"}, "budget_limit"),
        ({"dataset_id": 1, "budget_limit": "NaN"}, "budget_limit"),
        ({"dataset_id": 1, "name": 5}, "name"),
    ],
)
def test_bad_fields_are_named(payload: dict[str, Any], field: str) -> None:
    assert field in _errors(payload)


def test_non_object_body() -> None:
    assert _errors([1, 2]) == {"body": "must be a JSON object"}


def test_estimate_arithmetic() -> None:
    config = JobConfig(
        dataset_id=1,
        preset_id="balanced",
        hyperparameters={**PRESETS["balanced"]["hyperparameters"], "batch_size": 10, "epochs": 3},
        gpu_config={"type": "H100", "count": 2},
    )
    estimate = estimate_job_config(config, total_training_pairs=1_001, total_tokens=1_001 * 300)
    assert estimate.steps_per_epoch == 101
    assert estimate.total_steps == 303
    assert estimate.tokens_per_step == 3000
    assert estimate.hourly_rate == Decimal("8.40")
    # Mistral 7B (the default, 7.24 B parameters) runs at 7/7.24 = 0.9666 of the GPU's ~7B rate:
    # 3000 tokens / (2 × 9,000 × 0.9666 tokens/s × 0.9 for two GPUs) × (1 + 16/256) = 0.2036 s.
    # Start-up 30 s + 8 s/GB × 14.48 GB of weights = 145.87 s; + 303 × 0.2036 s = 207.54 s
    assert estimate.seconds_per_step == pytest.approx(0.20355, abs=1e-5)
    assert estimate.estimated_seconds == 208
    assert estimate.estimated_total_cost == Decimal("0.4843")  # 8.40 × 207.54 / 3600 = 0.48427
    assert estimate.as_dict()["estimated_total_cost"] == "0.4843"


def test_estimate_arithmetic_above_the_step_floor() -> None:
    config = JobConfig(
        dataset_id=1,
        preset_id="balanced",
        hyperparameters={**PRESETS["balanced"]["hyperparameters"], "batch_size": 8, "epochs": 3},
        gpu_config={"type": "A100-80GB", "count": 1},
    )
    estimate = estimate_job_config(config, total_training_pairs=1_000, total_tokens=1_000 * 500)
    assert estimate.total_steps == 375  # ceil(1000 / 8) × 3
    # 8 × 500 = 4000 tokens / (5,000 × 0.9666 tokens/s) × (1 + 16/256) = 0.8794 s;
    # 145.87 + 375 × 0.8794 = 475.6 s
    assert estimate.seconds_per_step == pytest.approx(0.87935, abs=1e-5)
    assert estimate.estimated_seconds == 476
    assert estimate.estimated_total_cost == Decimal("0.4624")  # 3.50 × 475.6 / 3600


def test_more_gpus_finish_sooner_but_never_for_free() -> None:
    base = resolve_job_config({"dataset_id": 1, "preset_id": "quality", "gpu_config": {"count": 1}})
    wide = resolve_job_config({"dataset_id": 1, "preset_id": "quality", "gpu_config": {"count": 8}})
    one = estimate_job_config(base, 100_000, 100_000 * 2000)
    eight = estimate_job_config(wide, 100_000, 100_000 * 2000)
    assert eight.estimated_seconds < one.estimated_seconds
    assert eight.estimated_total_cost > 0


def test_long_examples_are_capped_at_max_seq_length() -> None:
    config = resolve_job_config(
        {"dataset_id": 1, "hyperparameters": {"max_seq_length": 512, "batch_size": 2}}
    )
    assert estimate_job_config(config, 10, 10 * 100_000).tokens_per_step == 1024


def test_budget_warning_only_when_the_estimate_is_over_the_budget() -> None:
    assert budget_warning(Decimal("8.5167"), None) is None
    assert budget_warning(Decimal("8.5167"), Decimal("10")) is None
    assert budget_warning(Decimal("8.5167"), Decimal("8.5167")) is None  # exactly the budget fits
    warning = budget_warning(Decimal("8.5167"), Decimal("5"))
    assert warning is not None
    assert "$8.52" in warning
    assert "$5.00" in warning
    assert "stopped when its cost is about to reach the budget" in warning


# -- the base model --------------------------------------------------------------------------------


def test_each_preset_names_a_default_base_model_and_the_request_may_choose_another() -> None:
    assert resolve_job_config({"dataset_id": 1}).base_model == "mistralai/Mistral-7B-v0.1"
    assert resolve_job_config({"dataset_id": 1, "preset_id": "fast"}).base_model == "Qwen/Qwen2.5-0.5B"
    chosen = resolve_job_config({"dataset_id": 1, "preset_id": "fast", "base_model": "google/gemma-2-2b"})
    assert chosen.base_model == "google/gemma-2-2b"
    for preset in PRESETS.values():
        assert find_base_model(preset["base_model"]) is not None


@pytest.mark.parametrize("value", ["gpt2", "mistralai/mistral-7b-v0.1", 7, ["Qwen/Qwen2.5-0.5B"]])
def test_an_unknown_base_model_is_refused_naming_the_allowed_ids(value: object) -> None:
    message = _errors({"dataset_id": 1, "base_model": value})["base_model"]
    assert message.startswith("unknown base model")
    assert all(hub_id in message for hub_id in BASE_MODELS)


def test_a_base_model_the_gpu_cannot_hold_is_refused_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GPU_TYPES, "T4", GpuType("T4", Decimal("0.50"), 16, False, 600.0))
    payload = {
        "dataset_id": 1,
        "base_model": "meta-llama/Llama-3.1-8B",
        "gpu_config": {"type": "T4", "count": 8},
    }
    message = _errors(payload)["base_model"]
    # More GPUs do not help: data parallel, every GPU holds the whole model.
    assert message == (
        "Llama 3.1 8B needs 21.3 GB per GPU for LoRA training; a T4 has 16 GB: "
        "choose a GPU with more memory or a smaller model"
    )
    small = resolve_job_config({**payload, "base_model": "Qwen/Qwen2.5-0.5B"})
    assert small.base_model == "Qwen/Qwen2.5-0.5B"


def test_a_smaller_base_model_trains_sooner_and_costs_less() -> None:
    def estimate(base_model: str):
        config = resolve_job_config({"dataset_id": 1, "base_model": base_model})
        return estimate_job_config(config, total_training_pairs=2_000, total_tokens=2_000 * 800)

    small, large = estimate("Qwen/Qwen2.5-0.5B"), estimate("meta-llama/Llama-3.1-8B")
    assert small.total_steps == large.total_steps
    assert small.seconds_per_step < large.seconds_per_step
    assert small.estimated_seconds < large.estimated_seconds
    assert small.estimated_total_cost < large.estimated_total_cost
