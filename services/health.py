"""The run-health checks as a pure, incremental evaluator: (settings, state, new points) -> firings.

Nothing here reads history: `state` is a small JSON dict kept on the job (running minimum of the
loss, consecutive counters, running averages, the last validation values), updated once per batch
of new points; a point at or before `state["last_step"]` was seen already and is skipped, so a
report ingested twice (a poll and a callback) counts once. Each check fires at most once per job.
Why these statistics and defaults: docs/architecture.md §9a.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from math import isfinite
from typing import Any

from catalog.health_checks import CHECKS_BY_ID

EMA_ALPHA = 0.1  # running averages follow about the last 10 points
WARMUP_POINTS = 10  # gradient and throughput baselines need this many points first

Point = Mapping[str, Any]  # {"step": int, "training_loss": float | None, ...}


@dataclass(frozen=True)
class Firing:
    """One check that fired: what the event, the notification and the monitor show."""

    check: str
    step: int
    message: str
    evidence: dict[str, Any]
    action: str  # "warn" | "stop"

    def details(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "step": self.step,
            "message": self.message,
            "evidence": self.evidence,
            "action": self.action,
        }


HEALTH_METRICS = ("training_loss", "validation_loss", "gradient_norm", "throughput", "gpu_utilization")
# One point as the evaluator reads it: (step, *the HEALTH_METRICS values, None where absent).
PointValues = tuple[Any, ...]


def evaluate(
    config: Mapping[str, Mapping[str, Any]],
    state: dict[str, Any],
    points: Iterable[Point],
    *,
    total_steps: int,
    non_finite: Mapping[str, int] | None = None,
) -> list[Firing]:
    """Update `state` in place with `points` (ascending by step) and return the checks that fired.

    `non_finite` maps a loss metric the cluster sent as NaN/inf (and contract parsing dropped) to
    the step it belongs to.
    """
    values = ((point["step"], *(point.get(metric) for metric in HEALTH_METRICS)) for point in points)
    return evaluate_values(config, state, values, total_steps=total_steps, non_finite=non_finite)


def evaluate_values(
    config: Mapping[str, Mapping[str, Any]],
    state: dict[str, Any],
    points: Iterable[PointValues],
    *,
    total_steps: int,
    non_finite: Mapping[str, int] | None = None,
) -> list[Firing]:
    """`evaluate` over tuples (step, *HEALTH_METRICS values): the ingest path's rows need no dict."""
    run = _Run(config, state, total_steps)
    for metric, step in (non_finite or {}).items():
        run.fire("nan_loss", step, f"The cluster reported a non-finite {metric}.", {"metric": metric})
    last_step = state.get("last_step", -1)
    for point in points:
        step = int(point[0])
        if step <= last_step:
            continue
        state["last_step"] = last_step = step
        run.point(step, point)
    return run.firings


def all_off(config: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether every check of the job is switched off (then nothing needs evaluating)."""
    return all(values.get("action", "warn") == "off" for values in config.values())


def copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A copy `evaluate` may update without touching `state`: the state is flat (numbers and the
    `fired` list), so one level of copying is a deep copy."""
    return {key: list(value) if isinstance(value, list) else value for key, value in state.items()}


def _finite(value: Any) -> float | None:
    if type(value) is float:  # the usual case, checked first: a stored point's value
        return value if isfinite(value) else None
    return float(value) if isinstance(value, int | float) and isfinite(value) else None


def _ema(previous: float | None, value: float) -> float:
    return value if previous is None else previous + EMA_ALPHA * (value - previous)


class _Run:
    """One batch's evaluation over the job's state; `fire` records a check once per job."""

    def __init__(self, config: Mapping[str, Mapping[str, Any]], state: dict[str, Any], total_steps: int):
        self.config = config
        self.state = state
        self.total_steps = total_steps
        self.firings: list[Firing] = []
        # Thresholds read once per batch: `param` runs several times for every point.
        self.params = {
            (check, name): float(value)
            for check, values in config.items()
            for name, value in values.items()
            if name != "action"
        }
        # The thresholds every point reads, looked up once.
        self.loss_factor = self.param("exploding_loss", "factor")
        self.plateau_improvement = self.param("loss_plateau", "min_improvement_percent") / 100
        self.plateau_window = max(
            self.param("loss_plateau", "min_steps"),
            self.param("loss_plateau", "window_percent") / 100 * total_steps,
        )
        self.grad_factor = self.param("gradient_blowup", "factor")
        self.tp_fraction = self.param("throughput_collapse", "fraction")
        self.gpu_threshold = self.param("gpu_idle", "utilization")
        self.handlers = (
            self.training_loss,
            self.validation_loss,
            self.gradient_norm,
            self.throughput,
            self.gpu_utilization,
        )

    def armed(self, check: str) -> bool:
        action = self.config.get(check, {}).get("action", "warn")
        return action != "off" and check not in self.state.get("fired", [])

    def fire(self, check: str, step: int, message: str, evidence: dict[str, Any]) -> None:
        if not self.armed(check):
            return
        self.state.setdefault("fired", []).append(check)
        action = str(self.config[check].get("action", "warn"))
        self.firings.append(Firing(check, step, message, evidence, action))

    def param(self, check: str, name: str) -> float:
        return self.params[(check, name)]

    def point(self, step: int, point: PointValues) -> None:
        """Each finite metric of the point to the checks that watch it, in the order they always ran."""
        for handle, raw in zip(self.handlers, point[1:], strict=True):
            value = None if raw is None else _finite(raw)
            if value is not None:
                handle(step, value)

    def training_loss(self, step: int, loss: float) -> None:
        s = self.state
        s["loss_ema"] = _ema(s.get("loss_ema"), loss)
        minimum = s.get("loss_min")
        factor = self.loss_factor
        if minimum is not None and loss > factor * minimum:
            s["loss_high"] = s.get("loss_high", 0) + 1
            if s["loss_high"] >= self.param("exploding_loss", "steps"):
                self.fire(
                    "exploding_loss",
                    step,
                    f"Training loss {loss:.4g} is {loss / minimum:.1f}× its minimum {minimum:.4g} "
                    f"for {s['loss_high']} points in a row.",
                    {
                        "training_loss": loss,
                        "running_min": minimum,
                        "factor": factor,
                        "points": s["loss_high"],
                    },
                )
        else:
            s["loss_high"] = 0
        s["loss_min"] = loss if minimum is None else min(minimum, loss)
        self.plateau(step, loss)

    def plateau(self, step: int, loss: float) -> None:
        s = self.state
        best = s.get("best_loss")
        if best is None or loss < best * (1 - self.plateau_improvement):
            s["best_loss"], s["best_step"] = loss, step
            return
        if self.total_steps and step - s["best_step"] >= self.plateau_window:
            self.fire(
                "loss_plateau",
                step,
                f"Training loss has not improved on {best:.4g} (step {s['best_step']}) "
                f"for {step - s['best_step']} steps.",
                {
                    "best_loss": best,
                    "best_step": s["best_step"],
                    "steps_without_improvement": step - s["best_step"],
                },
            )

    def validation_loss(self, step: int, value: float) -> None:
        s = self.state
        last, best = s.get("val_last"), s.get("val_best")
        train = s.get("loss_ema")
        if last is not None and value > last:
            s["val_rises"] = s.get("val_rises", 0) + 1
            if s["val_rises"] == 1:
                s["val_train_start"] = train
        else:
            s["val_rises"] = 0
        s["val_last"] = value
        s["val_best"] = value if best is None else min(best, value)
        needed = self.param("overfitting", "evaluations")
        rise = self.param("overfitting", "min_rise_percent") / 100
        start = s.get("val_train_start")
        falling = train is not None and start is not None and train < start
        if s["val_rises"] >= needed and best is not None and value >= best * (1 + rise) and falling:
            self.fire(
                "overfitting",
                step,
                f"Validation loss rose for {s['val_rises']} evaluations to {value:.4g} "
                f"({100 * (value / best - 1):.0f}% above its best {best:.4g}) while training loss fell.",
                {
                    "validation_loss": value,
                    "best_validation_loss": best,
                    "rising_evaluations": s["val_rises"],
                    "training_loss_then": start,
                    "training_loss_now": train,
                },
            )

    def gradient_norm(self, step: int, grad: float) -> None:
        s = self.state
        average, seen = s.get("grad_ema"), s.get("grad_n", 0)
        factor = self.grad_factor
        if average is not None and seen >= WARMUP_POINTS and grad > factor * average:
            s["grad_high"] = s.get("grad_high", 0) + 1
            if s["grad_high"] >= self.param("gradient_blowup", "steps"):
                self.fire(
                    "gradient_blowup",
                    step,
                    f"Gradient norm {grad:.4g} is {grad / average:.0f}× its running average {average:.4g}.",
                    {
                        "gradient_norm": grad,
                        "running_average": average,
                        "factor": factor,
                        "points": s["grad_high"],
                    },
                )
            return  # a blown-up value does not move the baseline
        s["grad_high"] = 0
        s["grad_ema"], s["grad_n"] = _ema(average, grad), seen + 1

    def throughput(self, step: int, speed: float) -> None:
        s = self.state
        median, seen = s.get("tp_median"), s.get("tp_n", 0)
        fraction = self.tp_fraction
        if median is not None and seen >= WARMUP_POINTS and speed < fraction * median:
            s["tp_low"] = s.get("tp_low", 0) + 1
            if s["tp_low"] >= self.param("throughput_collapse", "steps"):
                self.fire(
                    "throughput_collapse",
                    step,
                    f"Throughput {speed:.4g} is {100 * speed / median:.0f}% of the job's median "
                    f"{median:.4g} for {s['tp_low']} points in a row.",
                    {
                        "throughput": speed,
                        "running_median": median,
                        "fraction": fraction,
                        "points": s["tp_low"],
                    },
                )
            return
        s["tp_low"] = 0
        s["tp_median"], s["tp_n"] = _streaming_median(median, speed, seen), seen + 1

    def gpu_utilization(self, step: int, gpu: float) -> None:
        s = self.state
        threshold = self.gpu_threshold
        if gpu >= threshold:
            s["gpu_low"] = 0
            return
        s["gpu_low"] = s.get("gpu_low", 0) + 1
        if s["gpu_low"] >= self.param("gpu_idle", "steps"):
            self.fire(
                "gpu_idle",
                step,
                f"GPU utilization {gpu:.0f}% has been below {threshold:.0f}% for {s['gpu_low']} points.",
                {"gpu_utilization": gpu, "threshold": threshold, "points": s["gpu_low"]},
            )


def _streaming_median(median: float | None, value: float, seen: int) -> float:
    """A running median estimate in O(1) memory: the first points set it, then each point moves it
    a small step (2% of the estimate) toward its side, so one outlier barely moves it."""
    if median is None:
        return value
    if seen < WARMUP_POINTS:
        return median + (value - median) / (seen + 1)  # the mean of the first points
    step = 0.02 * median
    return median + step if value > median else median - step if value < median else median


def check_title(check_id: str) -> str:
    check = CHECKS_BY_ID.get(check_id)
    return check.title if check else check_id
