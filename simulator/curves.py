"""Believable, deterministic training curves: every value is a pure function of (job seed, step).

Nothing ticks: a status request computes the points it needs from the step alone, so thousands of
simulated jobs cost nothing between polls, and the same job id always draws the same curves (a
test or a demo can be replayed). Noise comes from a 64-bit integer hash of (seed, step, channel)
instead of a stateful RNG for the same reason.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from catalog.base_models import default_base_model, find_base_model
from catalog.gpus import find_gpu_type
from catalog.metrics import Metric, contract_metrics
from services.job_timing import step_seconds

UNKNOWN_GPU_SAMPLES_PER_SECOND = 10.0  # a type the catalogue lost since the job was submitted
_MASK = (1 << 64) - 1
_SQRT6 = math.sqrt(6.0)


def seed_for(job_id: str) -> int:
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:8], "big")


def _mix(value: int) -> int:
    """splitmix64: a cheap, well-spread integer hash."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def _hash(seed: int, step: int, channel: int) -> int:
    return _mix((seed + step * 0x632BE59BD9B4E019 + channel * 0x9E3779B97F4A7C15) & _MASK)


def uniform(seed: int, step: int, channel: int) -> float:
    """A deterministic uniform number in [0, 1) for this (seed, step, channel)."""
    return _hash(seed, step, channel) / 2.0**64


def gaussian(seed: int, step: int, channel: int) -> float:
    """Deterministic zero-mean, unit-variance noise: the sum of the two 32-bit halves of one hash
    (a triangular distribution; bell-shaped enough for noise, and one hash instead of Box-Muller's
    two hashes and three transcendental calls: points are generated on every status request)."""
    value = _hash(seed, step, channel)
    return ((value & 0xFFFFFFFF) + (value >> 32)) / 2.0**32 * _SQRT6 - _SQRT6


@dataclass(frozen=True)
class CurveShape:
    """The per-job constants every point is drawn from (derived once at submit)."""

    seed: int
    total_steps: int
    steps_per_epoch: int
    peak_learning_rate: float
    batch_size: int
    samples_per_second: float  # nominal throughput of the whole GPU group
    tokens_per_sample: int  # packed sequences: every sample is max_seq_length tokens
    initial_loss: float
    final_loss: float
    eval_every: int
    overfits: bool  # long runs: validation loss turns up slightly near the end

    @property
    def seconds_per_step(self) -> float:
        return self.batch_size / self.samples_per_second

    @property
    def warmup_steps(self) -> int:
        return max(1, round(self.total_steps * 0.05))


def make_shape(
    job_id: str,
    *,
    total_steps: int,
    steps_per_epoch: int,
    epochs: int,
    batch_size: int,
    lr: float,
    gpu_type: str,
    gpu_count: int,
    tokens_per_sample: int = 512,
    base_model: str | None = None,
    rank: int = 16,
    tokens_per_step: int | None = None,
) -> CurveShape:
    """The job's curves and speed. A step takes what the estimate says it takes (services/job_timing.py)
    for `tokens_per_step` (default: `batch_size` packed sequences of `tokens_per_sample`)."""
    seed = seed_for(job_id)
    gpu = find_gpu_type(gpu_type)
    model = find_base_model(base_model) or default_base_model()
    tokens = tokens_per_step if tokens_per_step is not None else batch_size * tokens_per_sample
    if gpu is None:
        samples_per_second = UNKNOWN_GPU_SAMPLES_PER_SECOND * gpu_count
    else:
        samples_per_second = batch_size / step_seconds(model, gpu, gpu_count, tokens, rank)
    return CurveShape(
        seed=seed,
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        peak_learning_rate=lr,
        batch_size=batch_size,
        samples_per_second=samples_per_second,
        tokens_per_sample=tokens_per_sample,
        initial_loss=2.2 + 0.6 * uniform(seed, 0, 1),
        final_loss=0.35 + 0.4 * uniform(seed, 0, 2),
        eval_every=max(1, total_steps // 20),
        overfits=epochs >= 3,
    )


def learning_rate(shape: CurveShape, step: int) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < shape.warmup_steps:
        return shape.peak_learning_rate * (step + 1) / shape.warmup_steps
    span = max(1, shape.total_steps - shape.warmup_steps)
    progress = min(1.0, (step - shape.warmup_steps) / span)
    return shape.peak_learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _smooth_loss(shape: CurveShape, fraction: float) -> float:
    return shape.final_loss + (shape.initial_loss - shape.final_loss) * math.exp(-5.0 * fraction)


def training_loss(shape: CurveShape, step: int) -> float:
    """Exponential decay with ~4% multiplicative noise and a rare spike."""
    base = _smooth_loss(shape, step / max(1, shape.total_steps))
    noise = 1.0 + 0.04 * gaussian(shape.seed, step, 3)
    spike = 1.35 if uniform(shape.seed, step, 4) < 0.005 else 1.0
    return max(0.01, base * noise * spike)


def validation_loss(shape: CurveShape, step: int) -> float | None:
    """Logged every ``eval_every`` steps and at the end; rises slightly late in long runs."""
    if step % shape.eval_every != 0 and step != shape.total_steps:
        return None
    fraction = step / max(1, shape.total_steps)
    value = _smooth_loss(shape, fraction) * 1.06 + 0.03
    if shape.overfits and fraction > 0.7:
        value += 0.6 * (fraction - 0.7) ** 2 * shape.initial_loss
    return max(0.01, value * (1.0 + 0.01 * gaussian(shape.seed, step, 5)))


def gradient_norm(shape: CurveShape, step: int) -> float:
    base = 0.4 + 1.2 * _smooth_loss(shape, step / max(1, shape.total_steps)) / shape.initial_loss
    spike = 3.0 if uniform(shape.seed, step, 6) < 0.01 else 1.0
    return max(0.01, base * (1.0 + 0.1 * gaussian(shape.seed, step, 7)) * spike)


def throughput(shape: CurveShape, step: int) -> float:
    """Tokens per second, as trainers report it (the contract's unit); samples/s × sequence length."""
    samples = shape.samples_per_second * (1.0 + 0.03 * gaussian(shape.seed, step, 9))
    return max(0.1, samples * shape.tokens_per_sample)


def gpu_utilization(shape: CurveShape, step: int, *, evaluating: bool) -> float:
    centre = 62.0 if evaluating else 93.0
    return min(100.0, max(0.0, centre + 3.0 * gaussian(shape.seed, step, 10)))


def epoch_of(shape: CurveShape, step: int) -> int:
    """The 1-based epoch a step belongs to (step 0, before the first, counts as epoch 1)."""
    epochs = max(1, shape.total_steps // shape.steps_per_epoch)
    return min(epochs, max(1, math.ceil(step / shape.steps_per_epoch)))


def _validation_value(shape: CurveShape, step: int, evaluating: bool) -> float | None:
    value = validation_loss(shape, step)
    return None if value is None else round(value, 5)


# How the simulated cluster draws each metric of the contract at a step, rounded as a trainer would
# log it: (shape, step, evaluating) -> value. A catalogued metric with no curve here is drawn by
# `generic_curve`, so a new metric is simulated as soon as it is in catalog/metrics.py.
MetricCurve = Callable[[CurveShape, int, bool], float | None]
SIMULATED_CURVES: dict[str, MetricCurve] = {
    "training_loss": lambda shape, step, evaluating: round(training_loss(shape, step), 5),
    "validation_loss": _validation_value,
    "learning_rate": lambda shape, step, evaluating: float(f"{learning_rate(shape, step):.6g}"),
    "gradient_norm": lambda shape, step, evaluating: round(gradient_norm(shape, step), 4),
    "throughput": lambda shape, step, evaluating: round(throughput(shape, step), 1),
    "gpu_utilization": lambda shape, step, evaluating: round(
        gpu_utilization(shape, step, evaluating=evaluating), 1
    ),
}


def generic_curve(metric: Metric, shape: CurveShape, step: int) -> float:
    """Deterministic noise inside the metric's bounds: mid-range when bounded on both sides,
    otherwise about 1 away from its one bound (or around 1 when unbounded)."""
    noise = gaussian(shape.seed, step, 100 + zlib.crc32(metric.name.encode()))
    low, high = metric.low, metric.high
    if low is not None and high is not None:
        value = (low + high) / 2 + (high - low) / 10 * noise
    else:
        centre = low + 1.0 if low is not None else (high - 1.0 if high is not None else 1.0)
        value = centre + 0.1 * noise
    if low is not None:
        value = max(low, value)
    if high is not None:
        value = min(high, value)
    return round(value, 4)


def point(shape: CurveShape, step: int) -> dict[str, float | int | None]:
    """Every metric of the contract at ``step`` (validation_loss is None between evaluations)."""
    evaluating = validation_loss(shape, step) is not None
    values: dict[str, float | int | None] = {"step": step, "epoch": epoch_of(shape, step)}
    for metric in contract_metrics():
        curve = SIMULATED_CURVES.get(metric.name)
        values[metric.name] = curve(shape, step, evaluating) if curve else generic_curve(metric, shape, step)
    return values
