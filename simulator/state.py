"""The simulated cluster's jobs: a timeline per job, read lazily from the clock.

A job is a handful of timestamps; its status at any instant is computed when asked (no threads,
no timers), so the simulator can hold thousands of running jobs on a 2-core machine. Simulated
seconds run ``time_scale`` times faster than wall seconds.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from catalog.base_models import default_base_model, find_base_model
from services.job_timing import startup_seconds, tokens_per_step
from simulator import curves
from simulator.pathologies import apply_pathology
from simulator.submission import JobFaults, SubmitSpec

# Simulated seconds for the phases around training: queueing and saving here, loading the model
# the rest of the start-up the estimate plans for (services/job_timing.py), so the two agree.
QUEUE_SECONDS = 4.0
SAVE_SECONDS = 5.0
# A real trainer logs every N steps: a job logs at most this many points, whatever its length.
MAX_LOGGED_POINTS = 500


def iso(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class SimJob:
    """One submitted job. Mutable fields change only under the cluster's lock."""

    external_job_id: str
    spec: SubmitSpec
    submitted_at: float
    time_scale: float
    dataset_rows: int | None = None
    dataset_error: str | None = None
    ready_at: float | None = None
    cancelled_at: float | None = None
    shape: curves.CurveShape | None = None
    log_every: int = 1
    # Test-only: the exact text every status answer of this job carries instead of its snapshot
    # (how a test makes one job's cluster answers hostile; see SimCluster.answer_status_with).
    status_text: str | None = None

    @property
    def faults(self) -> JobFaults:
        return self.spec.faults

    def dataset_ready(self, rows: int, now: float, *, tokens: int | None = None) -> None:
        """The dataset is in: fix the job's length and speed. `tokens` unknown: packed sequences."""
        spec = self.spec
        steps_per_epoch = max(1, math.ceil(rows / spec.batch_size))
        total = steps_per_epoch * spec.epochs
        self.dataset_rows = rows
        self.ready_at = now
        self.shape = curves.make_shape(
            spec.job_id,
            total_steps=total,
            steps_per_epoch=steps_per_epoch,
            epochs=spec.epochs,
            batch_size=spec.batch_size,
            lr=spec.learning_rate,
            gpu_type=spec.gpu_type,
            gpu_count=spec.gpu_count,
            tokens_per_sample=spec.max_seq_length,
            base_model=spec.base_model,
            rank=spec.rank,
            tokens_per_step=None
            if tokens is None
            else tokens_per_step(spec.batch_size, rows, tokens, spec.max_seq_length),
        )
        self.log_every = spec.logging_steps or max(1, math.ceil(total / MAX_LOGGED_POINTS))

    # ---- the timeline (wall-clock instants) --------------------------------------------------

    def _wall(self, simulated_seconds: float) -> float:
        return simulated_seconds / self.time_scale

    def start_instant(self) -> float | None:
        if self.ready_at is None:
            return None
        return max(self.submitted_at + self._wall(QUEUE_SECONDS), self.ready_at)

    @property
    def load_model_seconds(self) -> float:
        """Simulated seconds from leaving the queue to the first step: the estimate's start-up
        for this base model, less the queue and the final save that it also covers."""
        model = find_base_model(self.spec.base_model) or default_base_model()
        return max(0.0, startup_seconds(model) - QUEUE_SECONDS - SAVE_SECONDS)

    def _train_start(self, start: float) -> float:
        return start + self._wall(self.load_model_seconds)

    def _instant_of_step(self, start: float, step: float) -> float:
        assert self.shape is not None
        return self._train_start(start) + self._wall(step * self.shape.seconds_per_step)

    def _steps_at(self, start: float, now: float) -> int:
        assert self.shape is not None
        elapsed = max(0.0, (now - self._train_start(start)) * self.time_scale)
        return min(self.shape.total_steps, int(elapsed / self.shape.seconds_per_step))

    def _fraction_instant(self, start: float, fraction: float | None) -> float | None:
        if fraction is None or self.shape is None:
            return None
        return self._instant_of_step(start, fraction * self.shape.total_steps)

    def forgotten(self, now: float) -> bool:
        """Fault injection: the cluster 'loses' the job once it reaches ``forget_at``."""
        start = self.start_instant()
        when = None if start is None else self._fraction_instant(start, self.faults.forget_at)
        return when is not None and now >= when

    def snapshot(self, now: float, since_step: int | None) -> dict[str, Any]:
        """The contract's status body at wall instant ``now``."""
        body: dict[str, Any] = {"external_job_id": self.external_job_id, "job_id": self.spec.job_id}
        if self.dataset_error is not None:
            end = self.ready_at or now
            return body | _terminal("failed", self.dataset_error, self.submitted_at, end)
        start = self.start_instant()
        if self.cancelled_at is not None and (start is None or self.cancelled_at < start):
            return body | _terminal("cancelled", None, None, self.cancelled_at)
        if start is None or now < start:
            stage = "downloading_dataset" if start is None else "queued"
            return body | {"status": "queued", "stage": stage, "progress": 0.0, "current_step": 0}
        assert self.shape is not None
        shape = self.shape
        end_of_training = self._instant_of_step(start, shape.total_steps)
        done_at = end_of_training + self._wall(SAVE_SECONDS)
        fail_at = self._fraction_instant(start, self.faults.fail_at)
        stop = min(x for x in (now, self.cancelled_at, fail_at, done_at) if x is not None)
        step = self._steps_at(start, stop)
        body |= {
            "started_at": iso(start),
            "total_steps": shape.total_steps,
            "total_epochs": self.spec.epochs,
            "current_step": step,
            "current_epoch": curves.epoch_of(shape, step),
            "progress": round(100.0 * step / shape.total_steps, 2),
            "metrics": self._metrics_at(step),
            "checkpoints": self._checkpoints(start, step),
        }
        if since_step is not None:
            body["metrics_history"] = self._history(since_step, step)
        if self.cancelled_at is not None and stop == self.cancelled_at:
            return body | _terminal("cancelled", None, start, stop)
        if fail_at is not None and stop == fail_at:
            message = f"CUDA error: out of memory at step {step} (simulated failure)"
            return body | _terminal("failed", message, start, stop)
        if stop == done_at:
            return body | _terminal("completed", None, start, stop) | {"artifact": self._artifact()}
        stage = "training"
        if now < self._train_start(start):
            stage = "loading_model"
        elif now >= end_of_training:
            stage = "saving_adapter"
        return body | {"status": "running", "stage": stage, "error": None}

    def _logged_steps(self, after: int, upto: int) -> list[int]:
        assert self.shape is not None
        first = (max(after, 0) // self.log_every + 1) * self.log_every
        steps = list(range(first, upto + 1, self.log_every))
        if upto == self.shape.total_steps and (not steps or steps[-1] != upto) and upto > after:
            steps.append(upto)
        return steps

    def _metrics_at(self, step: int) -> dict[str, Any]:
        """The latest logged point at or before ``step`` (a trainer reports what it logged)."""
        shape = self._shape()
        logged = step if step == shape.total_steps else step // self.log_every * self.log_every
        if logged <= 0:
            return {}
        values = self._point(logged)
        return {k: v for k, v in values.items() if k not in ("step", "epoch") and v is not None}

    def _history(self, since_step: int, step: int) -> list[dict[str, Any]]:
        start = self.start_instant() or self.submitted_at
        points = []
        for logged in self._logged_steps(since_step, step):
            values: dict[str, Any] = {k: v for k, v in self._point(logged).items() if v is not None}
            values["timestamp"] = iso(self._instant_of_step(start, logged))
            points.append(values)
        return points

    def _point(self, step: int) -> dict[str, Any]:
        """The curves at `step`, as this job's pathology (if any) distorts them."""
        shape = self._shape()
        return apply_pathology(
            self.faults.pathology, shape, curves.point(shape, step), self.faults.pathology_at
        )

    def _checkpoints(self, start: float, step: int) -> list[dict[str, Any]]:
        """A checkpoint at the end of every finished epoch (the contract's optional list)."""
        shape = self._shape()
        every = max(shape.steps_per_epoch, 1)
        return [
            {
                "step": at,
                "at": iso(self._instant_of_step(start, at)),
                "uri": f"sim://{self.external_job_id}/ckpt-{at}",
            }
            for at in range(every, step + 1, every)
        ]

    def _shape(self) -> curves.CurveShape:
        assert self.shape is not None
        return self.shape

    def _artifact(self) -> dict[str, Any]:
        digest = hashlib.sha256(self.external_job_id.encode()).hexdigest()
        rank = self.spec.rank
        return {
            "uri": f"s3://simulated-cluster/artifacts/{self.external_job_id}/adapter_model.safetensors",
            "size_bytes": rank * 2_621_440,
            "checksum": f"sha256:{digest}",
        }


def _terminal(status: str, error: str | None, start: float | None, end: float) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "stage": status, "error": error, "finished_at": iso(end)}
    if start is not None:
        body["started_at"] = iso(start)
    if status == "completed":
        body["progress"] = 100.0
    return body


class SimCluster:
    """All jobs of one simulated cluster, keyed both ways (idempotency by our job_id)."""

    def __init__(self, *, time_scale: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        if not time_scale > 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self.clock = clock
        self._lock = threading.Lock()
        self._by_external: dict[str, SimJob] = {}
        self._by_job_id: dict[str, SimJob] = {}

    def submit(self, spec: SubmitSpec) -> tuple[SimJob, bool]:
        """The job for ``spec.job_id``, and whether it was created now (False = idempotent replay)."""
        with self._lock:
            existing = self._by_job_id.get(spec.job_id)
            if existing is not None:
                return existing, False
            job = SimJob(
                external_job_id=f"sim-{secrets.token_hex(8)}",
                spec=spec,
                submitted_at=self.clock(),
                time_scale=self.time_scale,
            )
            self._by_external[job.external_job_id] = job
            self._by_job_id[spec.job_id] = job
            return job, True

    def get(self, external_job_id: str) -> SimJob | None:
        """The job, or None when unknown or 'forgotten' by fault injection."""
        job = self._by_external.get(external_job_id)
        if job is None or job.forgotten(self.clock()):
            return None
        return job

    def answer_status_with(self, job_id: str, text: str | None) -> None:
        """Test-only: answer every status request for our `job_id` with `text` (None: the real one)."""
        with self._lock:
            self._by_job_id[job_id].status_text = text

    def cancel(self, job: SimJob) -> None:
        with self._lock:
            if job.cancelled_at is None:
                job.cancelled_at = self.clock()

    def __len__(self) -> int:
        return len(self._by_external)
