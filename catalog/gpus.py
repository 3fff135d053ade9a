"""The GPU types PIPELINE prices and schedules: one entry per type, everything else derives from it.

Pricing and validation (services/costs.py, services/job_config.py), the estimate's throughput, the
configure page's options (components/job_form.py) and the simulated cluster's speed and submit
check (simulator/) all read this table, at call time, so adding a type is one entry here (the
documents' tables are rendered from it by `.ci/catalog_docs.py`, which CI runs in check mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TypeGuard

MAX_GPU_COUNT = 8  # GPUs per job: one node's worth; the estimate and the cluster assume one node


@dataclass(frozen=True)
class GpuType:
    """One GPU type as PIPELINE sells it.

    `tokens_per_second` is the sustained training throughput of one GPU on a LoRA fine-tune of a
    ~7B model (public benchmark ballparks): the estimate's planning figure, not a promise; the cost
    charged is measured; the simulated cluster runs at the same figure (services/job_timing.py).
    """

    id: str
    hourly_price: Decimal  # dollars per GPU-hour
    memory_gb: int
    bf16: bool  # native bfloat16 (Ampere and later); Volta trains in fp16 or fp32 only
    tokens_per_second: float

    def __post_init__(self) -> None:
        if not isinstance(self.hourly_price, Decimal) or not self.hourly_price > 0:
            raise ValueError(f"{self.id}: hourly_price must be a positive Decimal (money is never float)")
        if self.memory_gb <= 0 or self.tokens_per_second <= 0:
            raise ValueError(f"{self.id}: memory and speeds must be positive")


GPU_TYPES: dict[str, GpuType] = {
    gpu.id: gpu
    for gpu in (
        GpuType("A100-80GB", Decimal("3.50"), 80, True, 5000.0),
        GpuType("A100-40GB", Decimal("2.80"), 40, True, 4200.0),
        GpuType("H100", Decimal("4.20"), 80, True, 9000.0),
        GpuType("V100-32GB", Decimal("2.10"), 32, False, 1800.0),
    )
}


def gpu_type_ids() -> tuple[str, ...]:
    """Every offered type id, in catalogue order (the order the configure page lists them)."""
    return tuple(GPU_TYPES)


def find_gpu_type(gpu_type: object) -> GpuType | None:
    """The catalogue entry for `gpu_type`, or None for anything that is not an offered id."""
    return GPU_TYPES.get(gpu_type) if isinstance(gpu_type, str) else None


def valid_gpu_count(count: object) -> TypeGuard[int]:
    """A whole number (not a bool) from 1 to MAX_GPU_COUNT."""
    return not isinstance(count, bool) and isinstance(count, int) and 1 <= count <= MAX_GPU_COUNT
