"""A deliberately plain GPU cluster peer: the contract's status endpoint on the stdlib's threaded server.

Real clusters are not all asyncio. This one is what a team writes in an afternoon: one thread per
connection (``http.server.ThreadingHTTPServer``, daemon threads), the listen backlog raised
(``request_queue_size``; the stdlib default of 5 makes a concurrent client wait for SYN
retransmits), a fixed ``time.sleep`` as the cluster's latency, and the stdlib's default protocol,
HTTP/1.0: every answer closes its connection, so a client pays a TCP connect per request.
``--keep-alive`` answers HTTP/1.1 with persistent connections instead.

It knows N running jobs, ``plain-0`` .. ``plain-{N-1}``, all started when the server started; each
logs a point every ``LOGGING_STEPS`` steps at ``STEP_SECONDS`` per step, in real time, so a poll
``since_step=S`` gets every point after S (as the simulator's default run in cycle_scale does).

    python -m benchmarks.plain_cluster --port 8801 --jobs 1000 --latency-ms 50 [--keep-alive]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "plain-"
STEP_SECONDS = 0.2
LOGGING_STEPS = 9
TOTAL_STEPS = 8000
STEPS_PER_EPOCH = 80
BACKLOG = 1024


def iso(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def metrics_at(step: int) -> dict[str, float]:
    return {
        "training_loss": round(0.3 + 2.0 * math.exp(-step / 1500), 5),
        "learning_rate": 2e-4,
        "gradient_norm": 0.9,
        "throughput": 14000.0,
    }


def status_body(job: str, started: float, now: float, since_step: int | None) -> dict[str, Any]:
    """One running job's answer; ``metrics_history`` only when ``since_step`` was asked."""
    step = min(TOTAL_STEPS, int((now - started) / STEP_SECONDS))
    last_logged = step - step % LOGGING_STEPS
    body: dict[str, Any] = {
        "external_job_id": job,
        "status": "running",
        "stage": "training",
        "progress": round(100.0 * step / TOTAL_STEPS, 2),
        "current_epoch": step // STEPS_PER_EPOCH + 1,
        "total_epochs": TOTAL_STEPS // STEPS_PER_EPOCH,
        "current_step": step,
        "total_steps": TOTAL_STEPS,
        "metrics": metrics_at(last_logged) if last_logged else {},
        "started_at": iso(started),
    }
    if since_step is not None:
        first = (since_step // LOGGING_STEPS + 1) * LOGGING_STEPS
        body["metrics_history"] = [
            {
                "step": s,
                "epoch": s // STEPS_PER_EPOCH + 1,
                "timestamp": iso(started + s * STEP_SECONDS),
                **metrics_at(s),
            }
            for s in range(first, last_logged + 1, LOGGING_STEPS)
        ]
    return body


class PlainCluster(ThreadingHTTPServer):
    """The threaded server plus what the handler needs to answer."""

    request_queue_size = BACKLOG
    daemon_threads = True

    def __init__(self, port: int, jobs: int, latency_seconds: float) -> None:
        super().__init__(("127.0.0.1", port), StatusHandler)
        self.jobs = jobs
        self.latency_seconds = latency_seconds
        self.started = time.time()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (its deadline) is not news; anything else is printed as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class StatusHandler(BaseHTTPRequestHandler):
    server: PlainCluster

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/health":
            self._answer(200, {"status": "ok"})
            return
        job = parts.path.removeprefix("/training/status/")
        index = job.removeprefix(PREFIX)
        if job == parts.path or not index.isdigit() or int(index) >= self.server.jobs:
            self._answer(404, {"error": "unknown job"})
            return
        since = parse_qs(parts.query).get("since_step")
        time.sleep(self.server.latency_seconds)
        since_step = int(since[0]) if since else None
        self._answer(200, status_body(job, self.server.started, time.time(), since_step))

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--keep-alive", action="store_true", help="HTTP/1.1 persistent connections")
    args = parser.parse_args(argv)
    if args.keep_alive:
        StatusHandler.protocol_version = "HTTP/1.1"
    PlainCluster(args.port, args.jobs, args.latency_ms / 1000).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
