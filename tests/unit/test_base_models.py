"""The base-model catalogue: the default, the figures an estimate and the trainer will use, and the
memory check a later issue wires into validation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.base_models import (
    BASE_MODELS,
    DEFAULT_BASE_MODEL,
    LLAMA_STYLE_TARGETS,
    PHI3_TARGETS,
    BaseModel,
    default_base_model,
    find_base_model,
    fits_on,
)
from catalog.gpus import GPU_TYPES, GpuType


def test_the_default_is_the_specifications_mistral_7b() -> None:
    assert DEFAULT_BASE_MODEL == "mistralai/Mistral-7B-v0.1"
    assert default_base_model().hub_id == DEFAULT_BASE_MODEL
    assert find_base_model(DEFAULT_BASE_MODEL) is default_base_model()


def test_entries_are_keyed_by_hub_id_and_between_0_1_and_8_billion_parameters() -> None:
    assert all(key == model.hub_id for key, model in BASE_MODELS.items())
    assert all(1e8 <= model.parameters <= 8.1e9 for model in BASE_MODELS.values())
    # Listed smallest first, so a picker reads in order of cost.
    sizes = [model.parameters for model in BASE_MODELS.values()]
    assert sizes == sorted(sizes)


@pytest.mark.parametrize("value", [None, "", "mistral", "mistralai/Mistral-7B-v0.2", 7])
def test_only_a_catalogued_hub_id_finds_a_model(value: object) -> None:
    assert find_base_model(value) is None


def test_memory_for_lora_in_bf16_grows_with_the_weights() -> None:
    mistral = BASE_MODELS["mistralai/Mistral-7B-v0.1"]
    assert mistral.weights_gb == pytest.approx(14.48, abs=0.01)  # 7.24 B parameters x 2 bytes
    assert mistral.lora_memory_gb == 19.4  # 14.48 x 1.2 + 2, rounded up to a tenth
    qwen = BASE_MODELS["Qwen/Qwen2.5-0.5B"]
    assert (
        qwen.lora_memory_gb < mistral.lora_memory_gb < BASE_MODELS["meta-llama/Llama-3.1-8B"].lora_memory_gb
    )


def test_every_catalogued_model_fits_every_catalogued_gpu_today() -> None:
    assert all(fits_on(model, gpu) for model in BASE_MODELS.values() for gpu in GPU_TYPES.values())


def test_a_gpu_too_small_for_the_model_is_refused() -> None:
    small = GpuType("T4", Decimal("0.50"), 16, False, 600.0)
    assert not fits_on(BASE_MODELS["mistralai/Mistral-7B-v0.1"], small)
    assert fits_on(BASE_MODELS["meta-llama/Llama-3.2-1B"], small)


def test_speed_is_relative_to_the_7b_model_the_gpu_throughput_was_measured_on() -> None:
    assert BASE_MODELS["mistralai/Mistral-7B-v0.1"].speed_factor == pytest.approx(0.967, abs=0.001)
    assert BASE_MODELS["meta-llama/Llama-3.2-1B"].speed_factor == pytest.approx(5.66, abs=0.01)


def test_lora_targets_follow_the_architecture() -> None:
    assert BASE_MODELS["microsoft/Phi-3-mini-4k-instruct"].lora_target_modules == PHI3_TARGETS
    others = [m for m in BASE_MODELS.values() if not m.hub_id.startswith("microsoft/")]
    assert all(model.lora_target_modules == LLAMA_STYLE_TARGETS for model in others)


def test_an_entry_must_be_a_hub_id_with_a_size() -> None:
    with pytest.raises(ValueError, match="organisation/name"):
        BaseModel("mistral", "Mistral", 7_000_000_000, 4096, "Apache-2.0", False, LLAMA_STYLE_TARGETS)
    with pytest.raises(ValueError, match="positive"):
        BaseModel("a/b", "B", 0, 4096, "MIT", False, LLAMA_STYLE_TARGETS)
