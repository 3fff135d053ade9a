"""The status sweep (poll_many) against a plain threaded peer that closes every connection, as the
stdlib's HTTP/1.0 server does: every job is asked exactly once, never more than POLL_CONCURRENCY at
a time, and one slow job does not hold up the others."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from contract.results import ClusterTransient, JobStatusReport
from jobs.cluster import ClusterClient

KEY = "sweep-test-key-0123456789"


class CountingPeer(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.asked: Counter[str] = Counter()
        self.in_flight = 0
        self.most_in_flight = 0
        self.slow: set[str] = set()


class Handler(BaseHTTPRequestHandler):  # HTTP/1.0 by default: one request per connection
    server: CountingPeer

    def do_GET(self) -> None:
        job = self.path.split("?")[0].rsplit("/", 1)[-1]
        with self.server.lock:
            self.server.asked[job] += 1
            self.server.in_flight += 1
            self.server.most_in_flight = max(self.server.most_in_flight, self.server.in_flight)
        time.sleep(5.0 if job in self.server.slow else 0.01)
        with self.server.lock:
            self.server.in_flight -= 1
        body = json.dumps({"status": "running", "current_step": 5, "metrics_history": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def peer() -> Iterator[CountingPeer]:
    server = CountingPeer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def url(peer: CountingPeer) -> str:
    return f"http://127.0.0.1:{peer.server_address[1]}"


def test_a_peer_that_closes_each_connection_gets_every_job_polled_once(peer):
    jobs = [f"job-{i}" for i in range(300)]
    with ClusterClient(url(peer), KEY, poll_concurrency=16) as client:
        outcomes = client.poll_many(dict.fromkeys(jobs, 0))
    assert all(isinstance(outcomes[job], JobStatusReport) for job in jobs)
    assert peer.asked == Counter(dict.fromkeys(jobs, 1))
    assert 1 < peer.most_in_flight <= 16


def test_one_slow_job_does_not_hold_up_the_others(peer):
    peer.slow = {"job-slow"}
    jobs = ["job-slow", *(f"job-{i}" for i in range(60))]
    started = time.monotonic()
    with ClusterClient(url(peer), KEY, poll_concurrency=4, poll_deadline_seconds=2.0) as client:
        outcomes = client.poll_many(dict.fromkeys(jobs, 0))
    # 60 quick jobs at 10 ms over the 3 free workers: ~0.2 s; the sweep ends at its 2 s deadline,
    # not when the 5 s job would have answered.
    assert time.monotonic() - started < 4.0
    assert isinstance(outcomes["job-slow"], ClusterTransient)
    assert "poll deadline" in str(outcomes["job-slow"])
    assert all(isinstance(outcomes[job], JobStatusReport) for job in jobs[1:])
