"""How long a job takes: the one speed model the estimate and the simulated cluster share.

The estimate (services/job_config.py) prices a job with it, and the simulated cluster (simulator/)
runs its jobs on it, so the demo's bill is what the configure page said (docs/architecture.md §2a).
Start-up is the time from the cluster's acceptance to the first step plus saving the adapter; a
step is `batch_size` sequences at the GPU's sustained tokens/s, scaled by the base model's size.
Planning figures, not promises: on a real cluster the cost charged is measured.
"""

from __future__ import annotations

from catalog.base_models import BaseModel
from catalog.gpus import GpuType

MULTI_GPU_EFFICIENCY = 0.9
MIN_SECONDS_PER_STEP = 0.2  # optimizer step, logging and data loading, however small the batch
# Container start and dataset download, then the weights: download and load at about 1 GB per 8 s.
STARTUP_FIXED_SECONDS = 30.0
STARTUP_SECONDS_PER_WEIGHT_GB = 8.0
RANK_WORK_SCALE = 256  # LoRA rank r adds about r/256 to the work per token


def startup_seconds(model: BaseModel) -> float:
    """Seconds of a run that train nothing: start, download, load the base model, save the adapter."""
    return STARTUP_FIXED_SECONDS + STARTUP_SECONDS_PER_WEIGHT_GB * model.weights_gb


def step_seconds(model: BaseModel, gpu: GpuType, gpu_count: int, tokens_per_step: float, rank: int) -> float:
    """Seconds per optimizer step of `tokens_per_step` tokens on `gpu_count` GPUs of type `gpu`."""
    efficiency = MULTI_GPU_EFFICIENCY if gpu_count > 1 else 1.0
    per_second = gpu.tokens_per_second * model.speed_factor * gpu_count * efficiency
    return max(MIN_SECONDS_PER_STEP, tokens_per_step / per_second * (1 + rank / RANK_WORK_SCALE))


def tokens_per_step(batch_size: int, total_rows: int, total_tokens: int, max_seq_length: int) -> int:
    """Tokens one step trains: `batch_size` rows of the dataset's average length, capped at the
    sequence limit (rows are not packed)."""
    rows = max(int(total_rows), 1)
    average = min(max(total_tokens, 0) / rows, max_seq_length) or 1.0
    return int(-(-batch_size * average // 1))  # ceil without float surprises for whole products
