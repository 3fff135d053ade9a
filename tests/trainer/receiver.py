"""A real local HTTP server standing in for PIPELINE during trainer tests.

It serves datasets (one route answers 403, like an expired signed link) and receives callbacks,
verifying each with contract.signing exactly as the product's endpoint will: the secret is
re-derived from SECRET_KEY and the job id header, so a trainer that signs with anything else fails.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from contract.signing import JOB_ID_HEADER, derive_job_secret, signature_problem

SECRET_KEY = "trainer-test-secret-key-0123456789"


@dataclass
class Receiver:
    base_url: str
    datasets: dict[str, bytes]
    # Answer these POST numbers (1-based) with 503 before accepting, to exercise the trainer's retries.
    fail_posts: set[int] = field(default_factory=set)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    posts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def callback_url(self) -> str:
        return f"{self.base_url}/api/training-callback"

    def points(self) -> list[dict[str, Any]]:
        with self.lock:
            return [point for payload in self.payloads for point in payload["metrics_history"]]

    def statuses(self) -> list[str]:
        with self.lock:
            return [payload["status"] for payload in self.payloads]

    def last(self) -> dict[str, Any]:
        with self.lock:
            return self.payloads[-1]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

        def _reply(self, code: int, body: bytes = b"{}") -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            name = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
            if name == "forbidden.jsonl":
                self._reply(403, b'{"error": "signature expired"}')
            elif name in receiver.datasets:
                self._reply(200, receiver.datasets[name])
            else:
                self._reply(404)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                receiver.posts += 1
                number = receiver.posts
            if number in receiver.fail_posts:
                self._reply(503)
                return
            job_id = self.headers.get(JOB_ID_HEADER) or ""
            secret = derive_job_secret(SECRET_KEY, job_id) if job_id else ""
            problem = signature_problem(
                secret,
                self.headers.get("X-Pipeline-Timestamp"),
                self.headers.get("X-Pipeline-Signature"),
                body,
            )
            payload = json.loads(body) if problem is None else None
            if payload is not None and payload.get("job_id") != job_id:
                problem = "job id header does not match the body"
            with receiver.lock:
                if problem is not None or payload is None:
                    receiver.rejected.append(problem or "no body")
                else:
                    receiver.payloads.append(payload)
            self._reply(401 if problem else 200)

    return Handler


@contextmanager
def running_receiver(datasets: dict[str, bytes], host: str = "127.0.0.1") -> Iterator[Receiver]:
    server = ThreadingHTTPServer((host, 0), BaseHTTPRequestHandler)
    receiver = Receiver(f"http://{host}:{server.server_address[1]}", datasets)
    server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
