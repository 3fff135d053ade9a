"""Typed results and typed errors of the GPU cluster contract (docs/gpu-cluster-api.md).

Values arrive here already validated field by field (invalid ones are dropped and described in
``notes``). Each error kind means something different to the processor: docs/architecture.md §7
has the table. No message, repr or note ever contains the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from catalog.metrics import contract_metrics


class ClusterJobStatus(StrEnum):
    """The status values a cluster reports for one job."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (ClusterJobStatus.COMPLETED, ClusterJobStatus.FAILED, ClusterJobStatus.CANCELLED)


@dataclass(frozen=True, init=False)
class ClusterMetrics:
    """One set of metric values keyed by catalogue name (catalog/metrics.py).

    ``values`` has every metric of the contract, None where it was absent or dropped as invalid:
    ``ClusterMetrics(training_loss=1.8)["validation_loss"] is None``. (Values are read by name, not
    as attributes: a class with ``__getattr__`` slows every attribute read, and ingestion reads
    tens of thousands of points per cycle.)
    """

    values: dict[str, float | None]  # catalogue order; read-only by contract

    def __init__(self, values: Mapping[str, float | None] | None = None, /, **named: float | None) -> None:
        given = {**(values or {}), **named}
        names = [metric.name for metric in contract_metrics()]
        unknown = given.keys() - set(names)
        if unknown:
            raise TypeError(f"not a metric of the cluster contract: {', '.join(sorted(unknown))}")
        object.__setattr__(self, "values", {name: given.get(name) for name in names})

    @classmethod
    def of_checked(cls, values: dict[str, float | None]) -> ClusterMetrics:
        """Wrap values the parser already checked against the catalogue, one per contract metric
        (its hot path: no copy, no check)."""
        metrics = object.__new__(cls)
        object.__setattr__(metrics, "values", values)
        return metrics

    def __getitem__(self, name: str) -> float | None:
        """A metric's value (None when absent). Raises KeyError for a name the contract lacks."""
        return self.values[name]

    def as_dict(self) -> dict[str, float]:
        """The present values only, keyed by the contract's field names, in catalogue order."""
        return {name: value for name, value in self.values.items() if value is not None}

    @property
    def is_empty(self) -> bool:
        return all(value is None for value in self.values.values())


@dataclass(frozen=True, init=False)
class MetricsPoint:
    """One logged training step from ``metrics_history`` (unique per job by ``step``).

    Built as ``MetricsPoint(step, epoch, timestamp, training_loss=1.2, ...)`` or with a
    ``ClusterMetrics``; a metric value reads by name (``point["training_loss"]``).
    """

    step: int
    epoch: int | None
    timestamp: datetime | None  # the cluster's clock, UTC
    metrics: ClusterMetrics

    def __init__(
        self,
        step: int,
        epoch: int | None = None,
        timestamp: datetime | None = None,
        metrics: ClusterMetrics | None = None,
        **values: float | None,
    ) -> None:
        if metrics is not None and values:
            raise TypeError("give either metrics or metric values, not both")
        object.__setattr__(self, "step", step)
        object.__setattr__(self, "epoch", epoch)
        object.__setattr__(self, "timestamp", timestamp)
        object.__setattr__(self, "metrics", metrics if metrics is not None else ClusterMetrics(values))

    def __getitem__(self, name: str) -> float | None:
        """A metric's value at this step (None when absent), like ``point.metrics[name]``."""
        return self.metrics.values[name]


@dataclass(frozen=True)
class Artifact:
    """Where the trained adapter is, reported when a job completes."""

    uri: str
    size_bytes: int | None = None
    checksum: str | None = None  # e.g. "sha256:<hex>"


@dataclass(frozen=True)
class SubmitRequest:
    """What we send to POST /training/submit. ``job_id`` is the idempotency key."""

    job_id: str
    dataset_url: str
    hyperparameters: Mapping[str, Any]
    gpu_config: Mapping[str, Any]
    callback_url: str | None = None
    # The job's own callback secret (contract/signing.derive_job_secret), sent with the submit so a
    # cluster can sign callbacks for this job, and for no other one. Never logged.
    callback_secret: str | None = field(default=None, repr=False)
    base_model: str | None = None  # a hub id from catalog/base_models.py

    def as_json(self, *, with_secret: bool = False) -> dict[str, Any]:
        """The submit body; the callback secret only `with_secret` (the HTTP contract's submit, over
        the authenticated channel), never in what a backend writes to disk or logs."""
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "dataset_url": self.dataset_url,
            "hyperparameters": dict(self.hyperparameters),
            "gpu_config": dict(self.gpu_config),
        }
        if self.callback_url is not None:
            body["callback_url"] = self.callback_url
        if with_secret and self.callback_secret is not None:
            body["callback_secret"] = self.callback_secret
        if self.base_model is not None:
            body["base_model"] = self.base_model
        return body

    def __repr__(self) -> str:
        # The signed dataset URL is a bearer credential for one file, the callback secret one for
        # a job's callbacks: keep both out of logs.
        return f"SubmitRequest(job_id={self.job_id!r}, dataset_url='<signed>')"


@dataclass(frozen=True)
class SubmitResult:
    """The cluster accepted (or had already accepted) the job."""

    external_job_id: str
    status: ClusterJobStatus | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint the cluster saved (optional in status answers): its step, when and where."""

    step: int
    at: datetime | None = None
    uri: str | None = None


@dataclass(frozen=True)
class JobStatusReport:
    """One validated answer of GET /training/status/{external_job_id}.

    ``metrics_history`` holds every logged point after the ``since_step`` asked for, in ascending
    step order with no duplicates (empty when ``since_step`` was not given). ``notes`` lists every
    value that was dropped as invalid, one short sentence each.
    """

    external_job_id: str
    status: ClusterJobStatus
    stage: str | None = None
    progress: float | None = None  # percent, 0-100
    current_epoch: int | None = None
    current_step: int | None = None
    total_steps: int | None = None
    total_epochs: int | None = None
    metrics: ClusterMetrics = field(default_factory=ClusterMetrics)
    metrics_history: tuple[MetricsPoint, ...] = ()
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    artifact: Artifact | None = None
    checkpoints: tuple[Checkpoint, ...] = ()  # optional; ascending by step, one per step
    notes: tuple[str, ...] = ()
    # True when the answer carried a metrics_history list (even an empty one): the cluster supports
    # since_step. False means "no history offered": the caller may store the latest metrics instead.
    history_included: bool = False

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal


@dataclass(frozen=True)
class CancelResult:
    """The cluster's answer to POST /training/cancel/{external_job_id}."""

    external_job_id: str
    status: ClusterJobStatus | None = None  # the job's status after the cancel (may be terminal already)


class ClusterError(Exception):
    """Base of every cluster failure. ``kind`` names it; ``status_code`` is the HTTP status if any."""

    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r})"


class ClusterConfigError(ClusterError):
    """401/403: the API key or URL is wrong. An operator must act; jobs must not be failed for it."""

    kind = "config"


class ClusterRejected(ClusterError):
    """400/422: a permanent rejection. ``cluster_message`` is the cluster's own explanation."""

    kind = "rejected"

    def __init__(self, message: str, *, status_code: int | None = None, cluster_message: str = "") -> None:
        super().__init__(message, status_code=status_code)
        self.cluster_message = cluster_message


class ClusterNotFound(ClusterError):
    """404: the cluster does not know this job."""

    kind = "not_found"


class ClusterTransient(ClusterError):
    """429, 5xx, timeout or connection failure, after the client's own bounded retries."""

    kind = "transient"

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class ClusterMalformed(ClusterTransient):
    """The body was not JSON or not the contract's shape (treated as transient: "unknown")."""

    kind = "malformed"


PollOutcome = JobStatusReport | ClusterError


class ClusterBackend(Protocol):
    """The one small interface the processor uses for any cluster (http contract, ray, ...)."""

    def submit(self, request: SubmitRequest) -> SubmitResult:
        """Submit (idempotently by ``request.job_id``). Raises a ClusterError subclass."""
        ...

    def status(self, external_job_id: str, *, since_step: int | None = None) -> JobStatusReport:
        """The job's validated status; with ``since_step``, every logged point after it."""
        ...

    def cancel(self, external_job_id: str) -> CancelResult:
        """Ask the cluster to stop the job; idempotent (cancelling a finished job is not an error)."""
        ...

    def poll_many(self, queries: Mapping[str, int | None]) -> dict[str, PollOutcome]:
        """Status of many jobs at once, ``{external_job_id: since_step}`` → report or error.

        One slow or failing job never stalls or fails the others: each gets its own outcome.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
