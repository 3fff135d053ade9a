"""The run-health checks: one entry per check, read by the API's validation, the configure page, the
processor (services/health.py) and the documents.

Each check has parameters with a default and bounds; a job stores its own values and action
(`warn`, `stop`, or `off`) in `lora_training_jobs.health_checks`. The defaults stay quiet on the
simulator's normal curves and on the real trainer's tiny runs (docs/architecture.md §9a explains
each figure; tests/unit/test_health_checks.py runs normal curves through every check).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACTIONS = ("warn", "stop", "off")  # off: the check never fires for this job


@dataclass(frozen=True)
class HealthParameter:
    """One threshold of a check: `default` within [low, high]; `integer` for counts of steps."""

    name: str
    label: str
    default: float
    low: float
    high: float
    integer: bool = False


@dataclass(frozen=True)
class HealthCheck:
    id: str
    title: str
    description: str  # one line for the documents and the configure page
    parameters: tuple[HealthParameter, ...] = ()
    default_action: str = "warn"


HEALTH_CHECKS: tuple[HealthCheck, ...] = (
    HealthCheck(
        "nan_loss",
        "Non-finite loss",
        "The cluster reported a NaN or infinite training or validation loss.",
    ),
    HealthCheck(
        "exploding_loss",
        "Exploding training loss",
        "Training loss above `factor` × its running minimum for `steps` logged points in a row.",
        (
            HealthParameter("factor", "× running minimum", 3.0, 1.1, 100.0),
            HealthParameter("steps", "points in a row", 3, 1, 1000, integer=True),
        ),
    ),
    HealthCheck(
        "gradient_blowup",
        "Gradient-norm blow-up",
        "Gradient norm above `factor` × its running average for `steps` points in a row "
        "(after 10 points of warm-up).",
        (
            HealthParameter("factor", "× running average", 10.0, 1.5, 1000.0),
            HealthParameter("steps", "points in a row", 2, 1, 1000, integer=True),
        ),
    ),
    HealthCheck(
        "overfitting",
        "Overfitting",
        "Validation loss rising for `evaluations` evaluations in a row, `min_rise_percent` above its "
        "best, while training loss falls.",
        (
            HealthParameter("evaluations", "rising evaluations", 5, 2, 100, integer=True),
            HealthParameter("min_rise_percent", "% above best", 50.0, 0.0, 1000.0),
        ),
    ),
    HealthCheck(
        "loss_plateau",
        "Loss plateau",
        "Training loss has not improved by `min_improvement_percent` over the last `window_percent` "
        "of the run's steps (and at least `min_steps` steps).",
        (
            HealthParameter("window_percent", "% of total steps", 40.0, 5.0, 100.0),
            HealthParameter("min_steps", "at least steps", 50, 1, 1_000_000, integer=True),
            HealthParameter("min_improvement_percent", "% improvement", 0.5, 0.0, 100.0),
        ),
    ),
    HealthCheck(
        "throughput_collapse",
        "Throughput collapse",
        "Throughput below `fraction` × the job's own running median for `steps` points in a row.",
        (
            HealthParameter("fraction", "× running median", 0.5, 0.01, 0.99),
            HealthParameter("steps", "points in a row", 5, 1, 1000, integer=True),
        ),
    ),
    HealthCheck(
        "gpu_idle",
        "GPU utilization low",
        "GPU utilization below `utilization` % for `steps` points in a row (a stalled input pipeline).",
        (
            HealthParameter("utilization", "% utilization", 30.0, 0.0, 100.0),
            HealthParameter("steps", "points in a row", 30, 1, 1_000_000, integer=True),
        ),
    ),
)
CHECKS_BY_ID: dict[str, HealthCheck] = {check.id: check for check in HEALTH_CHECKS}


def find_health_check(check_id: str) -> HealthCheck | None:
    return CHECKS_BY_ID.get(check_id)


def default_settings(check: HealthCheck) -> dict[str, Any]:
    """A check's stored settings when the user changed nothing: its action and every default."""
    values: dict[str, Any] = {"action": check.default_action}
    for parameter in check.parameters:
        values[parameter.name] = int(parameter.default) if parameter.integer else parameter.default
    return values


def default_health_config() -> dict[str, dict[str, Any]]:
    """Every check's default settings, keyed by check id (what a job stores when given none)."""
    return {check.id: default_settings(check) for check in HEALTH_CHECKS}


def resolved_health_config(stored: Any) -> dict[str, dict[str, Any]]:
    """A job's stored settings over the defaults; anything unknown or malformed in old rows is
    ignored (the API validated what it stored; a check added later gets its defaults)."""
    config = default_health_config()
    if not isinstance(stored, dict):
        return config
    for check_id, values in stored.items():
        if check_id in config and isinstance(values, dict):
            config[check_id].update({k: v for k, v in values.items() if k in config[check_id]})
    return config
