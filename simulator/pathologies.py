"""Simulated run pathologies, one per health check (catalog/health_checks.py), so tests and demos
can show each check end to end.

A job asks for one with the hyperparameter `sim_pathology` (and optionally `sim_pathology_at`, the
fraction of training where it starts, default 0.3); the product passes hyperparameters through
untouched, as with `sim_fail_at`. Each is a pure function of (shape, step) like the normal curves.
"""

from __future__ import annotations

import math
from typing import Any

from simulator import curves

DEFAULT_ONSET = 0.3

# pathology -> the check it must trip
PATHOLOGIES: dict[str, str] = {
    "nan_loss": "nan_loss",
    "exploding_loss": "exploding_loss",
    "gradient_blowup": "gradient_blowup",
    "overfitting": "overfitting",
    "loss_plateau": "loss_plateau",
    "throughput_collapse": "throughput_collapse",
    "gpu_idle": "gpu_idle",
}


def apply_pathology(
    name: str | None, shape: curves.CurveShape, point: dict[str, Any], onset: float = DEFAULT_ONSET
) -> dict[str, Any]:
    """`point` (curves.point's dict) as the pathology `name` would distort it; unchanged before onset."""
    step = int(point["step"])
    start = max(1, round(onset * shape.total_steps))
    if name is None or step < start:
        return point
    sick = dict(point)
    since = (step - start) / max(1, shape.total_steps)
    if name == "nan_loss":
        sick["training_loss"] = math.nan
    elif name == "exploding_loss":
        sick["training_loss"] = round(point["training_loss"] * 8.0, 5)
    elif name == "gradient_blowup":
        sick["gradient_norm"] = round(point["gradient_norm"] * 60.0, 4)
    elif name == "overfitting" and point.get("validation_loss") is not None:
        sick["validation_loss"] = round(point["validation_loss"] + 6.0 * since * shape.initial_loss, 5)
    elif name == "loss_plateau":
        flat = curves.training_loss(shape, start) * (1.0 + 0.002 * curves.gaussian(shape.seed, step, 11))
        sick["training_loss"] = round(flat, 5)
    elif name == "throughput_collapse":
        sick["throughput"] = round(point["throughput"] * 0.2, 1)
    elif name == "gpu_idle":
        sick["gpu_utilization"] = round(8.0 + 2.0 * curves.uniform(shape.seed, step, 12), 1)
    return sick
