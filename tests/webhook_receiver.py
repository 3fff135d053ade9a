"""A real HTTP server on loopback that records what webhooks send it (no mocks): answers a scripted
list of status codes, can hang, and serves a redirect. Plus a burst RQ worker as its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    base_url: str
    statuses: list[int] = field(default_factory=list)  # answered in order; 200 once empty
    delay_seconds: float = 0.0
    requests: list[Received] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"{self.base_url}{path}"


@contextmanager
def loopback_receiver() -> Iterator[Receiver]:
    receiver = Receiver(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {key.lower(): value for key, value in self.headers.items()}
            receiver.requests.append(Received(self.path, headers, body, time.monotonic()))
            if receiver.delay_seconds:
                time.sleep(receiver.delay_seconds)
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
                self.end_headers()
                return
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def run_burst_worker(settings: Settings, tmp_path: Path) -> None:
    """`lora-pipeline worker --burst` in its own process, with these settings' database and Redis."""
    assert settings.redis_url
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SECRET_KEY": settings.secret_key,
        "PUBLIC_BASE_URL": settings.public_base_url,
        "WEBHOOKS_ALLOW_PRIVATE": "true" if settings.webhooks_allow_private else "false",
        "DATA_DIR": str(tmp_path / "worker-data"),
    }
    log = tmp_path / "burst-worker.log"
    with log.open("wb") as out:
        try:
            worker = subprocess.run(  # kills the worker when the timeout expires
                [sys.executable, "-m", "cli", "worker", "--burst"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"burst worker did not finish in 60 s\n--- its log (tail) ---\n{_tail(log)}"
            ) from None
    if worker.returncode != 0:
        raise AssertionError(f"burst worker exited {worker.returncode}\n--- its log (tail) ---\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]
