"""A small fake of the Ray Jobs REST API (the subset jobs/ray_backend.py uses), over real HTTP.

It answers the way Ray 2.60 does where it matters (checked against a real head, see
/work/shared/research/real-execution-feasibility.md §2.2): a duplicate ``submission_id`` is HTTP 500
with a text traceback ending "already exists", an unknown job is 404 with text, stop answers
``{"stopped": bool}``, logs come back whole as ``{"logs": "..."}``. Tests drive job states directly
(``set_status``, ``append_log``) and can queue raw answers (``fail_next``) to exercise errors.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote


@dataclass
class FakeRayJob:
    submission_id: str
    payload: dict[str, Any]
    status: str = "PENDING"
    message: str = "Job has not started yet."
    logs: str = ""
    start_time: int = field(default_factory=lambda: int(time.time() * 1000))
    end_time: int | None = None
    stop_requests: int = 0


class FakeRayJobs:
    """The fake head: ``url`` is its dashboard address (what RAY_ADDRESS names)."""

    def __init__(self) -> None:
        self.jobs: dict[str, FakeRayJob] = {}
        self.requests: list[tuple[str, str]] = []
        self.queued_answers: list[tuple[int, bytes]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as two writes: without this, Nagle + delayed ACK add ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                fake.handle(self, "GET")

            def do_POST(self) -> None:
                fake.handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- test controls ---------------------------------------------------------------------------

    def set_status(self, submission_id: str, status: str, message: str = "") -> None:
        job = self.jobs[submission_id]
        job.status, job.message = status, message or job.message
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            job.end_time = int(time.time() * 1000)

    def append_log(self, submission_id: str, *lines: str) -> None:
        self.jobs[submission_id].logs += "".join(line + "\n" for line in lines)

    def fail_next(self, code: int, body: bytes = b"Internal Server Error") -> None:
        self.queued_answers.append((code, body))

    # ---- the API -------------------------------------------------------------------------------------

    def handle(self, request: http.server.BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        path = request.path.split("?")[0]
        with self.lock:
            self.requests.append((method, path))
            if self.queued_answers:
                code, body = self.queued_answers.pop(0)
                return _send(request, code, body, "text/plain")
            code, answer = self._route(method, path, raw)
        if isinstance(answer, bytes):
            return _send(request, code, answer, "text/plain")
        return _send(request, code, json.dumps(answer).encode(), "application/json")

    def _route(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        parts = [part for part in path.split("/") if part]
        if method == "POST" and parts == ["api", "jobs"]:
            return self._submit(raw)
        if len(parts) < 3 or parts[:2] != ["api", "jobs"]:
            return 404, b"Not Found"
        job = self.jobs.get(unquote(parts[2]))
        if job is None:
            return 404, f"Job {unquote(parts[2])} does not exist".encode()
        tail = parts[3:]
        if method == "GET" and not tail:
            return 200, {
                "type": "SUBMISSION",
                "job_id": f"raydriver_{job.submission_id}",
                "submission_id": job.submission_id,
                "status": job.status,
                "message": job.message,
                "entrypoint": job.payload.get("entrypoint"),
                "start_time": job.start_time,
                "end_time": job.end_time,
                "metadata": job.payload.get("metadata"),
            }
        if method == "GET" and tail == ["logs"]:
            return 200, {"logs": job.logs}
        if method == "POST" and tail == ["stop"]:
            job.stop_requests += 1
            if job.status in ("PENDING", "RUNNING"):
                if job.status == "RUNNING":
                    self.set_status(job.submission_id, "STOPPED", "Job was intentionally stopped.")
                return 200, {"stopped": True}
            return 200, {"stopped": False}
        return 404, b"Not Found"

    def _submit(self, raw: bytes) -> tuple[int, Any]:
        try:
            payload = json.loads(raw)
        except ValueError:
            return 400, b"Bad Request: the body is not JSON"
        if not isinstance(payload, dict) or not isinstance(payload.get("entrypoint"), str):
            return 400, b"TypeError: JobSubmitRequest needs an entrypoint"
        submission_id = payload.get("submission_id") or f"raysubmit_{len(self.jobs)}"
        if submission_id in self.jobs:
            trace = (
                "Traceback (most recent call last):\n  File job_manager.py, in submit_job\n"
                f"ValueError: Job with submission_id {submission_id} already exists. "
                "Please use a different submission_id.\n"
            )
            return 500, trace.encode()
        self.jobs[submission_id] = FakeRayJob(submission_id, payload)
        return 200, {"job_id": f"raydriver_{submission_id}", "submission_id": submission_id}


def _send(request: http.server.BaseHTTPRequestHandler, code: int, body: bytes, kind: str) -> None:
    request.send_response(code)
    request.send_header("Content-Type", kind)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)
