"""`GPU_CLUSTER_BACKEND=local`: run the real trainer as a subprocess of this machine.

For `lora-pipeline demo --real` and tests: no cluster, no GPU. It implements the ClusterBackend
interface: submit writes `<runs>/<job_id>/job.json` and spawns `python -m trainer` (the callback
secret in the environment, never in the file; idempotent by run directory); status reads the
trainer's own `metrics.jsonl` through the contract parser; cancel sends SIGTERM, so the trainer
saves the adapter and reports `cancelled`. Pid files let a restarted process find its trainers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from contract.parsing import parse_status_report
from contract.results import (
    CancelResult,
    ClusterError,
    ClusterJobStatus,
    ClusterMalformed,
    ClusterNotFound,
    ClusterRejected,
    JobStatusReport,
    PollOutcome,
    SubmitRequest,
    SubmitResult,
)
from contract.signing import derive_job_secret

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "local-"
# The trainers this process started, shared by every LocalBackend in it: the cycle builds a backend
# per run, and only the Popen object can reap a finished child and tell its exit code.
_PROCESSES: dict[str, subprocess.Popen[bytes]] = {}


class LocalBackend:
    """Trainer subprocesses on this machine, one run directory per job under `runs_dir`."""

    def __init__(
        self,
        secret_key: str,
        runs_dir: Path,
        *,
        python: str | None = None,
        tiny: bool = True,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self._secret_key = secret_key
        self._runs = runs_dir
        self._python = python or os.environ.get("TRAINER_PYTHON") or sys.executable
        self._tiny = tiny
        self._extra = extra_args
        self._processes = _PROCESSES

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> LocalBackend:
        return cls(settings.secret_key, Path(settings.data_dir) / "runs", **options)

    def _run_dir(self, external_job_id: str) -> Path:
        job_id = external_job_id.removeprefix(PREFIX)
        if not job_id or "/" in job_id or job_id.startswith("."):
            raise ClusterNotFound(f"no local run {external_job_id!r}")
        return self._runs / job_id

    # -- ClusterBackend ---------------------------------------------------------------------------

    def submit(self, request: SubmitRequest) -> SubmitResult:
        external = PREFIX + request.job_id
        run_dir = self._run_dir(external)
        if (run_dir / "pid").exists():
            return SubmitResult(external_job_id=external, status=ClusterJobStatus.RUNNING)
        run_dir.mkdir(parents=True, exist_ok=True)
        spec = run_dir / "job.json"
        spec.write_text(json.dumps(request.as_json()))
        command = [self._python, "-m", "trainer", "--spec", str(spec), "--output-dir", str(run_dir)]
        if self._tiny:
            command.append("--tiny")
        command.extend(self._extra)
        env = {
            **os.environ,
            "PIPELINE_CALLBACK_SECRET": request.callback_secret
            or derive_job_secret(self._secret_key, request.job_id),
            "TRAINER_THREADS": os.environ.get("TRAINER_THREADS", "1"),
        }
        try:
            with (run_dir / "trainer.log").open("ab") as log:
                process = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
        except OSError as exc:
            raise ClusterRejected(f"could not start the trainer: {exc}", cluster_message=str(exc)) from exc
        self._processes[external] = process
        (run_dir / "pid").write_text(str(process.pid))
        return SubmitResult(external_job_id=external, status=ClusterJobStatus.RUNNING)

    def status(self, external_job_id: str, *, since_step: int | None = None) -> JobStatusReport:
        run_dir = self._run_dir(external_job_id)
        if not (run_dir / "pid").exists():
            raise ClusterNotFound(f"no local run {external_job_id!r}")
        # The exit code first: a trainer that writes its terminal line and exits between the two
        # reads must not look as if it had died without a result.
        exit_code = self._exit_code(external_job_id, run_dir)
        latest, history = self._read_record(run_dir / "metrics.jsonl", since_step)
        body: dict[str, Any] = dict(latest) if latest else {"status": "running", "stage": "starting"}
        body["metrics_history"] = history
        if body.get("status") not in ("completed", "failed", "cancelled") and exit_code is not None:
            body["status"] = "failed"
            body["error"] = f"the trainer exited with code {exit_code} without reporting a result"
        return parse_status_report(body, external_job_id, since_step)

    def cancel(self, external_job_id: str) -> CancelResult:
        run_dir = self._run_dir(external_job_id)
        pid = self._pid(run_dir)
        if pid is None:
            raise ClusterNotFound(f"no local run {external_job_id!r}")
        if self._exit_code(external_job_id, run_dir) is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        return CancelResult(external_job_id=external_job_id, status=None)

    def poll_many(self, queries: Mapping[str, int | None]) -> dict[str, PollOutcome]:
        outcomes: dict[str, PollOutcome] = {}
        for external, since in queries.items():
            try:
                outcomes[external] = self.status(external, since_step=since)
            except ClusterError as exc:
                outcomes[external] = exc
        return outcomes

    def close(self) -> None:
        """Trainers keep running (a restarted processor finds them by pid file)."""

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _read_record(path: Path, since_step: int | None) -> tuple[dict[str, Any] | None, list[Any]]:
        """The last complete status line and every point after `since_step`, from metrics.jsonl."""
        if not path.exists():
            return None, []
        latest: dict[str, Any] | None = None
        history: dict[int, Any] = {}
        after = since_step or 0
        with path.open(encoding="utf-8") as record:
            for line in record:
                if not line.endswith("\n"):
                    break  # the trainer is still writing this line
                try:
                    payload = json.loads(line)
                except ValueError as exc:
                    raise ClusterMalformed(f"unreadable line in {path.name}") from exc
                latest = payload
                for point in payload.get("metrics_history") or ():
                    step = point.get("step") if isinstance(point, dict) else None
                    if isinstance(step, int) and step > after:
                        history.setdefault(step, point)
        return latest, [history[step] for step in sorted(history)]

    @staticmethod
    def _pid(run_dir: Path) -> int | None:
        try:
            return int((run_dir / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _exit_code(self, external_job_id: str, run_dir: Path) -> int | None:
        """The exit code once the trainer has ended (-1 when it is gone but not our child), else None."""
        process = self._processes.get(external_job_id)
        if process is not None:
            return process.poll()
        pid = self._pid(run_dir)
        if pid is None:
            return -1
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return -1
        except PermissionError:
            return None
        return None
