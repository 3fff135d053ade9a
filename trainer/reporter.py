"""How the trainer tells PIPELINE what it is doing: signed callbacks, batched, retried, plus stdout.

Every message is the contract's status payload plus `job_id` (docs/gpu-cluster-api.md), so callbacks,
polls and log lines share one ingest path; unacknowledged points ride again in `metrics_history`
(the server dedups by step). A background thread flushes batches so a slow endpoint never stalls a
step; each point is also printed as `METRIC {payload}` (the log fallback) and, given `record_path`,
appended to a durable JSON-lines record.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from catalog.metrics import trainer_metrics
from contract.signing import callback_headers

METRIC_PREFIX = "METRIC "
TERMINAL = frozenset({"completed", "failed", "cancelled"})
# 409 means the server already has this delivery (a replay of one it accepted): nothing to resend.
_DELIVERED = frozenset({409})
_PERMANENT = frozenset({400, 401, 403, 404, 413, 422})


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StatusReporter:
    """Holds the job's latest status and its undelivered points, and ships them to `callback_url`."""

    def __init__(
        self,
        job_id: str,
        callback_url: str | None,
        secret: str | None,
        *,
        flush_seconds: float = 0.5,
        batch_points: int = 50,
        final_deadline_seconds: float = 30.0,
        stdout: TextIO | None = None,
        record_path: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job_id = job_id
        self._url = callback_url
        self._secret = secret or ""
        self._flush_seconds = flush_seconds
        self._batch_points = batch_points
        self._final_deadline = final_deadline_seconds
        self._stdout = stdout or sys.stdout
        self._record: TextIO | None = None
        if record_path is not None:
            record_path.parent.mkdir(parents=True, exist_ok=True)
            self._record = record_path.open("a", encoding="utf-8")
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pending: list[dict[str, Any]] = []
        self._dirty = False
        self._state: dict[str, Any] = {
            # Once this process runs, the cluster has started the job: the contract's statuses are
            # queued/running/completed/failed/cancelled, and the stage says what "running" is doing.
            "status": "running",
            "stage": "starting",
            "progress": 0.0,
            # Unknown until the data is tokenized: null, never a placeholder the server would store.
            "current_epoch": None,
            "total_epochs": None,
            "current_step": 0,
            "total_steps": None,
            "metrics": {metric.name: None for metric in trainer_metrics()},
            "error": None,
            "artifact": None,
            "started_at": iso_now(),
            "finished_at": None,
        }
        self.delivered_points = 0
        self.failed_posts = 0
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, connect=3.0), transport=transport)
        self._thread: threading.Thread | None = None
        if self._url:
            self._thread = threading.Thread(target=self._run, name="callback-flusher", daemon=True)
            self._thread.start()

    # -- what the training loop calls -------------------------------------------------------------

    def update(self, **fields: Any) -> None:
        """Change status fields (status, stage, total_steps, ...) and send them with the next flush."""
        with self._lock:
            self._state.update(fields)
            self._dirty = True
            line = self._payload([])
        self._print(line)
        self._wake.set()

    def add_point(self, point: dict[str, Any], *, epoch: int, total_steps: int) -> None:
        """Record one training step's metrics; the latest values also become `metrics`.

        `point` holds `step` and the values measured at it, keyed by the metric catalogue's names
        (catalog/metrics.py); a metric not measured at this step is sent as null, and a sparse one
        (validation loss) keeps its last value in `metrics`.

        Raises:
            ValueError: a key that is not a metric the trainer reports (a typo would be dropped).
        """
        measured = trainer_metrics()
        unknown = point.keys() - {"step", "epoch", "timestamp"} - {m.name for m in measured}
        if unknown:
            raise ValueError(f"not a metric the trainer reports: {', '.join(sorted(unknown))}")
        values = {m.name: point.get(m.name) for m in measured}
        point = {
            "timestamp": point.get("timestamp") or iso_now(),
            "step": point["step"],
            "epoch": epoch,
            **values,
        }
        step = int(point["step"])
        with self._lock:
            metrics = self._state["metrics"]
            for metric in measured:
                if values[metric.name] is not None or not metric.sparse:
                    metrics[metric.name] = values[metric.name]
            self._state.update(
                status="running",
                stage="training",
                current_step=step,
                current_epoch=epoch,
                total_steps=total_steps,
                progress=round(100.0 * step / total_steps, 2) if total_steps else 0.0,
            )
            self._pending.append(point)
            self._dirty = True
            line = self._payload([point])
            full = len(self._pending) >= self._batch_points
        self._print(line)
        if full:
            self._wake.set()

    def finish(
        self,
        status: str,
        *,
        error: str | None = None,
        artifact: dict[str, Any] | None = None,
        stage: str | None = None,
    ) -> bool:
        """Report the terminal state and deliver everything still pending; True if it all arrived."""
        if status not in TERMINAL:
            raise ValueError(f"not a terminal status: {status}")
        self.update(
            status=status,
            stage=stage or status,
            error=error,
            artifact=artifact,
            finished_at=iso_now(),
            **({"progress": 100.0} if status == "completed" else {}),
        )
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        delivered = self._deliver_until(self._clock() + self._final_deadline)
        self._client.close()
        if self._record is not None:
            self._record.close()
        return delivered

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self._payload([])

    # -- delivery ---------------------------------------------------------------------------------

    def _payload(self, history: list[dict[str, Any]]) -> dict[str, Any]:
        state = dict(self._state)
        state["metrics"] = dict(state["metrics"])
        return {"job_id": self.job_id, **state, "metrics_history": list(history)}

    def _print(self, payload: dict[str, Any]) -> None:
        line = json.dumps(payload, separators=(",", ":"))
        self._stdout.write(METRIC_PREFIX + line + "\n")
        self._stdout.flush()
        if self._record is not None:
            self._record.write(line + "\n")
            self._record.flush()

    def _run(self) -> None:
        backoff = self._flush_seconds
        while not self._stopping.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            if self._stopping.is_set():
                return
            ok = self._send_pending()
            backoff = self._flush_seconds if ok else min(backoff * 2, 10.0)

    def _deliver_until(self, deadline: float) -> bool:
        """Keep sending until nothing is pending (True) or the deadline passes (False)."""
        if not self._url:
            return True
        delay = 0.2
        while True:
            if self._send_pending() and not self._pending and not self._dirty:
                return True
            if self._clock() + delay > deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _send_pending(self) -> bool:
        """One POST per batch of at most `batch_points` points; False if a batch must be retried."""
        while True:
            with self._lock:
                if not self._dirty:
                    return True
                batch = self._pending[: self._batch_points]
                payload = self._payload(batch)
                if len(self._pending) > len(batch) and payload["status"] in TERMINAL:
                    # The terminal status rides on the last batch: the server closes a finished job
                    # to further writes, so points sent after it would be dropped.
                    payload.update(status="running", finished_at=None)
                body = json.dumps(payload, separators=(",", ":")).encode()
                self._dirty = False
            outcome = self._post(body)
            with self._lock:
                if outcome == "retry":
                    self._dirty = True
                    self.failed_posts += 1
                    return False
                # Delivered, or refused for good (logged): either way these points are done.
                del self._pending[: len(batch)]
                if outcome == "delivered":
                    self.delivered_points += len(batch)
                if self._pending:
                    self._dirty = True

    def _post(self, body: bytes) -> str:
        assert self._url is not None
        headers = {
            "Content-Type": "application/json",
            **callback_headers(self._secret, None, body, job_id=self.job_id),
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self._warn(f"callback to {self._url} failed ({type(exc).__name__}); will retry")
            return "retry"
        if response.is_success or response.status_code in _DELIVERED:
            return "delivered"
        if response.status_code in _PERMANENT:
            self._warn(f"callback refused with HTTP {response.status_code}: {response.text[:200]}")
            return "refused"
        self._warn(f"callback got HTTP {response.status_code}; will retry")
        return "retry"

    @staticmethod
    def _warn(message: str) -> None:
        print(f"trainer: {message}", file=sys.stderr, flush=True)
