"""Job requests: presets fill defaults, explicit values win, every bad field is named, estimates add up."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

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
    # 3000 tokens / (2 × 9,000 tokens/s × 0.9 for two GPUs) × (1 + 16/256 for rank 16) = 0.1968 s,
    # under the 0.2 s floor; 180 s start-up + 303 × 0.2 s = 240.6 s
    assert estimate.seconds_per_step == 0.2
    assert estimate.estimated_seconds == 241
    assert estimate.estimated_total_cost == Decimal("0.5614")  # 8.40 × 240.6 / 3600 = 0.56140
    assert estimate.as_dict()["estimated_total_cost"] == "0.5614"


def test_estimate_arithmetic_above_the_step_floor() -> None:
    config = JobConfig(
        dataset_id=1,
        preset_id="balanced",
        hyperparameters={**PRESETS["balanced"]["hyperparameters"], "batch_size": 8, "epochs": 3},
        gpu_config={"type": "A100-80GB", "count": 1},
    )
    estimate = estimate_job_config(config, total_training_pairs=1_000, total_tokens=1_000 * 500)
    assert estimate.total_steps == 375  # ceil(1000 / 8) × 3
    # 8 × 500 = 4000 tokens / 5,000 tokens/s × (1 + 16/256) = 0.85 s; 180 + 375 × 0.85 = 498.75 s
    assert estimate.seconds_per_step == pytest.approx(0.85)
    assert estimate.estimated_seconds == 499
    assert estimate.estimated_total_cost == Decimal("0.4849")  # 3.50 × 498.75 / 3600 = 0.484895… → 0.4849


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
