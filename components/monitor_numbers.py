"""The live numbers of the monitor (cards, ETA, cost) as display strings, from a job document.

One pure function, ``monitor_numbers``, turns the API's job JSON (``services.serialize.job_json``), the
recent ``(step, seconds)`` window and "now" into every text the page shows in its cards. The
page's first render and each poll tick both call it, so a tick sends a few short strings instead
of re-rendering the cards (the tick budget is 5 KB). ``now`` is a parameter so tests are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

from components.estimates import MIN_INTERVALS, eta_seconds, projected_final_cost, seconds_per_step
from components.formatters import (
    MISSING,
    format_duration,
    format_loss,
    format_percent,
    format_throughput,
    parse_money,
    parse_timestamp,
)
from services.costs import format_money
from services.downsample import MetricsPayload, SeriesPayload

ACTIVE = frozenset({"queued", "initializing", "running"})
# Trailing (step, seconds) pairs the page keeps for the ETA: 10 intervals. The window rides in
# every tick response, so it is half of estimates.RECENT_INTERVALS; the median-based stall filter
# still needs only MIN_INTERVALS, and at typical logging rates this spans the last tick or two.
ETA_WINDOW = 11
assert ETA_WINDOW > MIN_INTERVALS

RateWindow = list[list[float]]  # [[step, seconds], ...] ascending by step; JSON-friendly


class MonitorNumbers(TypedDict):
    """Every card text, keyed by the card slot it fills (``<card>_value`` / ``<card>_detail``).

    The training-loss card has no live detail line (its step is the progress bar's step): every
    key here is sent on every tick, so each one has to earn its bytes.
    """

    training_loss_value: str
    validation_loss_value: str
    validation_loss_detail: str
    throughput_value: str
    throughput_detail: str
    cost_value: str
    cost_detail: str
    eta_value: str
    eta_detail: str


def is_active(status: str) -> bool:
    """Queued, initializing and running jobs change; the page polls only for those."""
    return status in ACTIVE


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def elapsed_seconds(job: dict[str, Any], now: datetime) -> float | None:
    """Seconds of compute so far: started → completed (terminal) or → now (still running)."""
    if not job.get("started_at"):
        return None
    started = parse_timestamp(job["started_at"])
    end = parse_timestamp(job["completed_at"]) if job.get("completed_at") else now
    return max((end - started).total_seconds(), 0.0)


def points_after(metrics: MetricsPayload, step: int | None) -> MetricsPayload:
    """``metrics`` without the points at or before ``step`` (a tick that re-read its ETA window)."""
    if step is None:
        return metrics
    series: dict[str, SeriesPayload] = {}
    for name, s in metrics["series"].items():
        keep = [i for i, st in enumerate(s["step"]) if st > step]
        series[name] = {"step": [s["step"][i] for i in keep], "value": [s["value"][i] for i in keep]}
    e = metrics["elapsed"]
    keep = [i for i, st in enumerate(e["step"]) if st > step]
    newer = [st for st in e["step"] if st > step]
    return {
        **metrics,
        "total_points": len(newer),
        "last_step": metrics["last_step"] if newer or any(s["step"] for s in series.values()) else None,
        "series": series,
        "elapsed": {"step": newer, "seconds": [e["seconds"][i] for i in keep]},
    }


def rate_window(metrics: MetricsPayload, previous: RateWindow | None = None) -> RateWindow:
    """The last ``ETA_WINDOW`` (step, seconds) pairs: ``previous`` extended by new elapsed points."""
    pairs = [list(p) for p in previous or []]
    last = pairs[-1][0] if pairs else None
    for step, seconds in zip(metrics["elapsed"]["step"], metrics["elapsed"]["seconds"], strict=True):
        if last is None or step > last:
            pairs.append([step, seconds])
            last = step
    return pairs[-ETA_WINDOW:]


def validation_texts(
    latest: tuple[int, float] | None, best: tuple[int, float] | None, current: float | None
) -> tuple[str, str]:
    """(value, detail) of the validation card: the latest evaluated loss and its step, and the best.

    Evaluations are sparse (every N steps), so the job's current point rarely has one: the card
    shows the newest evaluated point the charts hold, never the dash once one exists.
    """
    if latest is None:
        return format_loss(current), f"best {format_loss(best[1])} @ step {best[0]:,}" if best else ""
    detail = f"step {latest[0]:,}"
    if best is not None and best != latest:
        detail += f" · best {format_loss(best[1])} @ {best[0]:,}"
    elif best is not None:
        detail += " · best so far"
    return format_loss(latest[1]), detail


def monitor_numbers(
    job: dict[str, Any],
    window: Sequence[Sequence[float]],
    now: datetime,
    *,
    hourly_rate: Decimal | None,
    best_validation: tuple[int, float] | None = None,
    latest_validation: tuple[int, float] | None = None,
) -> MonitorNumbers:
    """Card texts for ``job`` (API job JSON) at ``now``.

    Cost: a running job's spend is the larger of the stored accrual (lags by up to one cycle)
    and ``hourly_rate`` x elapsed (billing runs from ``started_at``, DESIGN §8), never more than
    its ``budget_limit`` (nothing past it is billed); a terminal job shows its final cost. ETA is
    the recent step rate from ``window`` applied to the steps left; the projected final cost adds
    the rate for that time, and when it passes the budget the detail says the job stops there.
    ``latest_validation`` and ``best_validation`` are (step, loss) of the charts' validation series.
    Unknown inputs show the dash, never 0.
    """
    status = str(job.get("status", ""))
    metrics = job.get("current_metrics") or {}
    elapsed = elapsed_seconds(job, now)
    estimated = parse_money(job.get("estimated_total_cost"))
    budget = parse_money(job.get("budget_limit"))
    spent = parse_money(job.get("final_cost")) if not is_active(status) else None
    if spent is None:
        spent = parse_money(job.get("current_cost")) or Decimal(0)
        if status == "running" and hourly_rate is not None and elapsed is not None:
            spent = max(
                spent, (hourly_rate * Decimal(str(elapsed)) / Decimal(3600)).quantize(Decimal("0.0001"))
            )
        if budget is not None:
            spent = min(spent, budget)

    steps = [int(p[0]) for p in window]
    secs = [float(p[1]) for p in window]
    current_step, total_steps = int(job.get("current_step") or 0), int(job.get("total_steps") or 0)
    eta = eta_seconds(steps, secs, current_step, total_steps) if status == "running" else None
    rate = seconds_per_step(steps, secs) if status == "running" else None

    cost_parts = [f"est. {format_money(estimated)}"] if estimated is not None else []
    if status == "running" and eta is not None and hourly_rate is not None and elapsed is not None:
        projected = projected_final_cost(
            parse_money(job.get("current_cost")) or Decimal(0), elapsed, eta, hourly_rate
        )
        cost_parts.append(f"projected {format_money(projected)}")
        if budget is not None and projected > budget:
            cost_parts.append(f"stops at budget {format_money(budget)}")
            budget = None
    elif not is_active(status):
        cost_parts.insert(0, "final")
    if budget is not None:
        cost_parts.append(f"budget {format_money(budget)}")

    if status == "running":
        eta_value = format_duration(eta) if eta is not None else "estimating…"
        eta_detail = f"{rate:.2f} s/step · elapsed {format_duration(elapsed)}" if rate else ""
    elif is_active(status):
        eta_value, eta_detail = MISSING, "starts when the job runs"
    else:
        # "done" only for a finished run: a failed or cancelled job stopped short of its total
        eta_value = "done" if status == "completed" else "stopped"
        eta_detail = f"ran {format_duration(elapsed)}" if elapsed is not None else "never started"

    gpu = _float(metrics.get("gpu_utilization"))
    validation_value, validation_detail = validation_texts(
        latest_validation, best_validation, _float(metrics.get("validation_loss"))
    )
    return {
        "training_loss_value": format_loss(_float(metrics.get("training_loss"))),
        "validation_loss_value": validation_value,
        "validation_loss_detail": validation_detail,
        "throughput_value": format_throughput(_float(metrics.get("throughput"))),
        "throughput_detail": f"GPU {format_percent(gpu)}" if gpu is not None else "",
        "cost_value": format_money(spent),
        "cost_detail": " · ".join(cost_parts),
        "eta_value": eta_value,
        "eta_detail": eta_detail,
    }


def steps_per_epoch(job: dict[str, Any]) -> float | None:
    """Steps in one epoch (for the hover's epoch), or None when the totals are not known yet."""
    total_steps, total_epochs = job.get("total_steps") or 0, job.get("total_epochs") or 0
    return total_steps / total_epochs if total_steps and total_epochs else None


def job_title(job: dict[str, Any], dataset_name: str | None) -> str:
    """The monitor's heading: the job's name if it has one, else the dataset it trains on."""
    name = job.get("name")
    if name:
        return f"{name} · {dataset_name}" if dataset_name else str(name)
    return f"Training on {dataset_name}" if dataset_name else f"Job {str(job.get('id', ''))[:8]}"


class ProgressParts(TypedDict):
    value: float
    label: str
    epoch: str
    step: str


def progress_parts(job: dict[str, Any]) -> ProgressParts:
    """The progress bar's value and texts: percent (clamped to 0–100, one decimal as the specification shows it), epoch and step counters."""
    value = min(max(float(job.get("progress") or 0.0), 0.0), 100.0)
    epoch, total_epochs = int(job.get("current_epoch") or 0), int(job.get("total_epochs") or 0)
    step, total_steps = int(job.get("current_step") or 0), int(job.get("total_steps") or 0)
    return {
        "value": value,
        "label": f"{value:.1f}%",
        "epoch": f"Epoch {epoch:,} / {total_epochs:,}" if total_epochs else "Epoch —",
        "step": f"Step {step:,} / {total_steps:,}" if total_steps else "Step —",
    }
