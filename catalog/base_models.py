"""The base models a job can fine-tune: one entry per model, everything else will derive from it.

Parameter counts are the models' own (their safetensors metadata); `context_length` is each config's
`max_position_embeddings`. A job names one by `hub_id` (validated in services/job_config.py); the
estimate, the simulated cluster and the trainer read it from here (docs/architecture.md §2a).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from catalog.gpus import GpuType

# The estimate's GPU throughput (catalog/gpus.py, tokens_per_second) is measured on a ~7B model.
REFERENCE_PARAMETERS = 7_000_000_000
BYTES_PER_PARAMETER_BF16 = 2
# LoRA in bf16 with gradient checkpointing: the frozen weights, plus about a fifth of them again for
# activations, the adapters and their optimizer states at the presets' batch sizes, plus the CUDA
# context and allocator slack. A planning figure for refusing hopeless GPUs, not a profile.
ACTIVATION_OVERHEAD = 0.2
FIXED_OVERHEAD_GB = 2.0
# The attention and MLP projections of Llama-style decoders (Llama, Mistral, Qwen2, Gemma 2).
LLAMA_STYLE_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# Phi-3 fuses q/k/v and gate/up into single projections.
PHI3_TARGETS = ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")


@dataclass(frozen=True)
class BaseModel:
    """One base model: what it is, and what an estimate and the trainer need to know about it."""

    hub_id: str  # the Hugging Face repository the trainer loads
    display_name: str
    parameters: int
    context_length: int  # tokens
    license: str
    gated: bool  # the hub asks users to accept terms: the cluster needs a token that has
    lora_target_modules: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.parameters <= 0 or self.context_length <= 0:
            raise ValueError(f"{self.hub_id}: parameters and context length must be positive")
        if "/" not in self.hub_id:
            raise ValueError(f"{self.hub_id}: a hub id is organisation/name")

    @property
    def weights_gb(self) -> float:
        """Size of the frozen weights in bf16, in GB (10^9 bytes)."""
        return self.parameters * BYTES_PER_PARAMETER_BF16 / 1e9

    @property
    def lora_memory_gb(self) -> float:
        """GPU memory LoRA training in bf16 needs on each GPU (data parallel: every GPU holds the
        whole model), rounded up to a tenth of a GB."""
        needed = self.weights_gb * (1 + ACTIVATION_OVERHEAD) + FIXED_OVERHEAD_GB
        return math.ceil(needed * 10) / 10

    @property
    def speed_factor(self) -> float:
        """Training tokens/s relative to the ~7B reference: LoRA's work per token grows with the
        parameter count, so a 1B model runs about 7 times faster. Planning figure; small models
        rarely reach it (a GPU is then short of work)."""
        return REFERENCE_PARAMETERS / self.parameters


def fits_on(model: BaseModel, gpu: GpuType) -> bool:
    """True when one GPU of this type holds LoRA training of the model (memory only)."""
    return model.lora_memory_gb <= gpu.memory_gb


BASE_MODELS: dict[str, BaseModel] = {
    model.hub_id: model
    for model in (
        BaseModel(
            "Qwen/Qwen2.5-0.5B",
            "Qwen2.5 0.5B",
            494_032_768,
            32_768,
            "Apache-2.0",
            False,
            LLAMA_STYLE_TARGETS,
        ),
        BaseModel(
            "meta-llama/Llama-3.2-1B",
            "Llama 3.2 1B",
            1_235_814_400,
            131_072,
            "Llama 3.2 Community License",
            True,
            LLAMA_STYLE_TARGETS,
        ),
        BaseModel(
            "google/gemma-2-2b",
            "Gemma 2 2B",
            2_614_341_888,
            8_192,
            "Gemma Terms of Use",
            True,
            LLAMA_STYLE_TARGETS,
        ),
        # Phi-3 mini exists only as instruction-tuned checkpoints; this is the 4k-context one.
        BaseModel(
            "microsoft/Phi-3-mini-4k-instruct",
            "Phi-3 mini 4k (instruct)",
            3_821_079_552,
            4_096,
            "MIT",
            False,
            PHI3_TARGETS,
        ),
        BaseModel(
            "mistralai/Mistral-7B-v0.1",
            "Mistral 7B v0.1",
            7_241_732_096,
            32_768,
            "Apache-2.0",
            True,  # gated since 2024 (share contact details), though Apache-2.0
            LLAMA_STYLE_TARGETS,
        ),
        BaseModel(
            "meta-llama/Llama-3.1-8B",
            "Llama 3.1 8B",
            8_030_261_248,
            131_072,
            "Llama 3.1 Community License",
            True,
            LLAMA_STYLE_TARGETS,
        ),
    )
}
DEFAULT_BASE_MODEL = "mistralai/Mistral-7B-v0.1"  # the specification's default


def find_base_model(hub_id: object) -> BaseModel | None:
    """The catalogue entry for `hub_id`, or None for anything that is not an offered model."""
    return BASE_MODELS.get(hub_id) if isinstance(hub_id, str) else None


def default_base_model() -> BaseModel:
    return BASE_MODELS[DEFAULT_BASE_MODEL]
