"""How fast can the processor learn the status of N running jobs? (DESIGN.md §5 step 3)

Starts the simulated cluster as its own process (as in production, the cluster does not share our
GIL), submits N jobs, adds latency to every answer, then times a status poll of all N jobs:
sequentially (the naive baseline: one request after another) and with ``ClusterClient.poll_many``
in both strategies (asyncio + AsyncClient pools behind semaphores; threads sharing one httpx.Client)
at several concurrency limits. Prints one table and the ratio of the best to the baseline.

    python -m benchmarks.poll_concurrency [--jobs 1000] [--latency-ms 50] [--sequential-jobs 1000]

Target (issue 3): 1,000 jobs at 50 ms latency in <= 3 s on a 2-core machine (sequential ~50 s).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from jobs.cluster import DEFAULT_POLL_CONCURRENCY, DEFAULT_POLL_MODE, POLL_POOL_SIZE, ClusterClient
from jobs.cluster_types import ClusterError, SubmitRequest

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "benchmark-cluster-key-0123456789"
# (strategy, requests in flight, connections per httpx pool; None = one pool for all)
SETTINGS: list[tuple[str, int, int | None]] = [
    ("async", 32, None),
    ("async", 64, None),
    ("async", 32, 16),
    ("async", 64, 16),
    ("async", 128, 16),
    ("threads", 32, None),
    ("threads", 48, None),
    ("threads", 64, None),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def simulator_process(time_scale: float) -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "cli", "cluster-sim", "--port", str(port), "--quiet"]
    command += ["--time-scale", str(time_scale), "--api-key", API_KEY]
    process = subprocess.Popen(command, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the simulator did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def dataset_server(rows: int) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        lines = "".join(json.dumps({"prompt": f"q{i}", "completion": "a"}) + "\n" for i in range(rows))
        Path(folder, "data.jsonl").write_text(lines)
        handler = functools.partial(QuietHandler, directory=folder)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/data.jsonl"
        finally:
            server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def submit_jobs(client: ClusterClient, dataset_url: str, count: int) -> list[str]:
    gpu = {"type": "A100-80GB", "count": 1}
    hyper = {"batch_size": 8, "epochs": 3}
    return [
        client.submit(SubmitRequest(f"bench-{i}", dataset_url, hyper, gpu)).external_job_id
        for i in range(count)
    ]


def time_sequential(client: ClusterClient, ids: list[str]) -> float:
    start = time.perf_counter()
    for external_id in ids:
        client.status(external_id)
    return time.perf_counter() - start


def time_poll_many(client: ClusterClient, ids: list[str], mode: str) -> tuple[float, int]:
    start = time.perf_counter()
    outcomes = client.poll_many(dict.fromkeys(ids), mode=mode)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    return elapsed, sum(isinstance(outcome, ClusterError) for outcome in outcomes.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--sequential-jobs", type=int, default=None, help="baseline sample (default: all)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per setting (best is kept)")
    args = parser.parse_args(argv)

    with dataset_server(rows=400) as dataset_url, simulator_process(time_scale=1.0) as url:
        setup = ClusterClient(url, API_KEY)
        ids = submit_jobs(setup, dataset_url, args.jobs)
        httpx.post(
            f"{url}/_sim/faults",
            json={"latency_ms": args.latency_ms},
            headers={"Authorization": f"Bearer {API_KEY}"},
        ).raise_for_status()
        sample = ids[: args.sequential_jobs or len(ids)]
        sequential = time_sequential(setup, sample) * len(ids) / len(sample)
        label = "sequential" + (
            "" if len(sample) == len(ids) else f" (x{len(ids) / len(sample):g} of {len(sample)})"
        )
        setup.close()

        print(f"\nstatus of {args.jobs} jobs, {args.latency_ms:g} ms added latency, {os.cpu_count()} cores")
        print(f"{'strategy':<34}{'seconds':>9}{'vs sequential':>15}{'errors':>8}")
        print(f"{label:<34}{sequential:>9.2f}{1.0:>14.1f}x{0:>8}")
        best = (float("inf"), "")
        for mode, concurrency, pool in SETTINGS:
            options = {"poll_concurrency": concurrency, "poll_pool_size": pool or concurrency}
            with ClusterClient(url, API_KEY, read_timeout=30, **options) as client:  # type: ignore[arg-type]
                runs = [time_poll_many(client, ids, mode) for _ in range(args.repeat)]
            elapsed, errors = min(runs)
            pools = (
                f", pools of {pool}" if mode == "async" and pool else ", one pool" if mode == "async" else ""
            )
            name = f"{mode}, {concurrency} in flight{pools}"
            print(f"{name:<34}{elapsed:>9.2f}{sequential / elapsed:>14.1f}x{errors:>8}")
            if errors == 0 and elapsed < best[0]:
                best = (elapsed, name)
        default = f"{DEFAULT_POLL_MODE}, {DEFAULT_POLL_CONCURRENCY} in flight, pools of {POLL_POOL_SIZE}"
        print(f"\nfastest: {best[1]} = {best[0]:.2f} s ({sequential / best[0]:.1f}x sequential)")
        print(f"client default: {default}; target: <= 3 s for 1,000 jobs at 50 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
