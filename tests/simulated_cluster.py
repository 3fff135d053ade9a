"""Fixtures for tests that talk to the simulated GPU cluster over real HTTP on a real port.

``simulator`` is the cluster (``start_simulator_in_thread``); ``datasets`` is a small static file
server standing in for our signed /storage URLs, so the cluster downloads its dataset exactly as it
would from the web app. tests/conftest.py registers the fixtures for the whole suite
(``pytest_plugins``): a test names them as parameters.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from contract.results import SubmitRequest
from jobs.cluster import ClusterClient
from simulator.runner import SimulatorHandle, start_simulator_in_thread

CLUSTER_KEY = "sim-key-canary-5d1e0b7a9c4f"
GPU = {"type": "A100-80GB", "count": 1}


def jsonl(rows: int) -> bytes:
    return "".join(
        json.dumps({"prompt": f"question {i}", "completion": "answer"}) + "\n" for i in range(rows)
    ).encode()


class DatasetServer:
    """Serves in-memory files by name; unknown names get 404."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = files.get(self.path.split("?")[0].lstrip("/"))
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, name: str, content: bytes) -> str:
        """Publish ``content`` and return its URL (with a fake signature, as ours carry one)."""
        self.files[name] = content
        return self.url(name)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}?expires=9999999999&signature=abc"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def datasets() -> Iterator[DatasetServer]:
    server = DatasetServer()
    yield server
    server.close()


@pytest.fixture
def simulator() -> Iterator[SimulatorHandle]:
    """A simulated cluster at time scale 50: a default test job (40 rows, 3 epochs, the default
    Mistral 7B's 146 s start-up) finishes in about 3 s. A test that needs another scale starts its own with start_simulator_in_thread."""
    handle = start_simulator_in_thread(api_key=CLUSTER_KEY, time_scale=50.0)
    yield handle
    handle.stop()


@pytest.fixture
def cluster(simulator: SimulatorHandle) -> Iterator[ClusterClient]:
    client = ClusterClient(simulator.url, CLUSTER_KEY, backoff_seconds=0.01, read_timeout=5.0)
    yield client
    client.close()


def submit_request(
    datasets: DatasetServer, job_id: str, *, rows: int = 40, gpu: dict[str, Any] | None = None, **hyper: Any
) -> SubmitRequest:
    url = datasets.add(f"{job_id}.jsonl", jsonl(rows))
    hyperparameters = {"batch_size": 8, "epochs": 3, "learning_rate": 2e-4} | hyper
    return SubmitRequest(job_id, url, hyperparameters, gpu or GPU, callback_url=None)
