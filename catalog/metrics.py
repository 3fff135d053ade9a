"""The metric series of a training run: one entry per metric, everything else derives from it.

Read at call time by parsing, storage SQL, the API's series, the charts, the simulator and the
trainer; only the typed model column and its migration are written by hand (docs/architecture.md §2a).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

Chart = Literal["loss", "panels"]
# Columns of a stored point that are not metrics; a metric may not take one of these names.
POINT_FIELDS = ("id", "job_id", "timestamp", "epoch", "step")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Metric:
    """One metric series.

    Values outside [low, high] (None: unbounded on that side) are dropped with a note wherever a
    cluster report is validated. `sparse` metrics are logged only at some steps (evaluations), so a
    reporter keeps the last value as the latest one. `chart` is where the monitor draws it: the
    loss chart or the grid of panels (in catalogue order), with `title` on its axis and hover and
    `hover_format`/`axis` as Plotly formats and y-axis options.
    """

    name: str
    title: str
    description: str  # one line for the documents
    unit: str = ""
    low: float | None = 0.0
    high: float | None = None
    chart: Chart | None = "panels"
    hover_format: str = ".4g"
    axis: dict[str, Any] = field(default_factory=dict)
    sparse: bool = False
    in_contract: bool = True  # in the cluster contract's metrics and metrics_history
    from_trainer: bool = True  # measured and sent by trainer/
    in_api: bool = True  # a series of the job API (and the CSV export)

    def __post_init__(self) -> None:
        # The name becomes an SQL identifier (db/metric_store.py): only this shape is ever allowed.
        if not _NAME.fullmatch(self.name) or self.name in POINT_FIELDS:
            raise ValueError(f"metric name {self.name!r} must be a lower-case identifier, not a point field")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"{self.name}: low {self.low} is above high {self.high}")
        if self.chart is not None and not self.in_api:
            raise ValueError(f"{self.name}: a charted metric must be an API series (the page reads the API)")
        if self.from_trainer and not self.in_contract:
            raise ValueError(f"{self.name}: the trainer reports through the contract, so it must be in it")


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(
            "training_loss",
            "training loss",
            "loss on the step's training batch",
            chart="loss",
        ),
        Metric(
            "validation_loss",
            "validation loss",
            "loss on the held-out split; only at evaluation steps",
            chart="loss",
            sparse=True,
        ),
        Metric(
            "learning_rate",
            "learning rate",
            "the optimizer's learning rate at the step",
            hover_format=".3e",
            axis={"exponentformat": "e", "tickformat": ".1e"},
        ),
        Metric("gradient_norm", "gradient norm", "norm of the gradients, before clipping"),
        Metric(
            "throughput",
            "tokens/s",
            "training tokens per second (non-padding), as trainers report it",
            unit="tokens/s",
            hover_format=",.0f",
            axis={"tickformat": ",.0f", "rangemode": "tozero"},
        ),
        Metric(
            "gpu_utilization",
            "GPU %",
            "GPU utilization in percent; null without a GPU",
            unit="percent",
            high=100.0,
            hover_format=".1f",
            axis={"range": [0, 105]},
        ),
    )
}


def metric_names() -> tuple[str, ...]:
    """Every metric, in catalogue order: the metric columns of a stored point."""
    return tuple(METRICS)


def contract_metrics() -> tuple[Metric, ...]:
    """The metrics a cluster reports (and contract/parsing.py validates), in catalogue order."""
    return tuple(m for m in METRICS.values() if m.in_contract)


def trainer_metrics() -> tuple[Metric, ...]:
    """The metrics trainer/ measures and sends in every point."""
    return tuple(m for m in METRICS.values() if m.from_trainer)


def api_series_names() -> tuple[str, ...]:
    """The series of the job API's metrics payload and CSV export, in catalogue order."""
    return tuple(m.name for m in METRICS.values() if m.in_api)


def chart_metrics(chart: Chart) -> tuple[Metric, ...]:
    """The metrics drawn on one chart of the monitor, in catalogue order."""
    return tuple(m for m in METRICS.values() if m.chart == chart)
