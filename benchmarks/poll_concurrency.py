"""How fast can the processor learn the status of N running jobs? (docs/architecture.md §5 step 3)

Starts the simulated cluster as its own process (as in production, the cluster does not share our
GIL), submits N jobs, adds latency to every answer, then times a status poll of all N jobs:
sequentially (the naive baseline: one ``ClusterClient.status`` call after another) and with
``ClusterClient.poll_many`` (one aiohttp sweep, jobs/cluster_polling.py) at several concurrency
limits. Prints one table and the ratio of the best to the baseline.

An httpx.AsyncClient sweep and a pool of threads over one httpx.Client were measured here too and
removed from the product: for the same answers they took 3-16x the wall time and 5-40x the CPU
(jobs/cluster_polling.py has the figures).

    python -m benchmarks.poll_concurrency [--jobs 1000] [--latency-ms 50] [--sequential-jobs 1000]

Target (issue 3): 1,000 jobs at 50 ms latency in <= 3 s on a 2-core machine (sequential ~50 s).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from contract.results import ClusterError, SubmitRequest
from jobs.cluster import ClusterClient
from settings import DEFAULT_POLL_CONCURRENCY
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "benchmark-cluster-key-0123456789"
CONCURRENCY = (32, 64, 128, 256)  # requests in flight (poll_concurrency)


@contextmanager
def simulator_process(time_scale: float) -> Iterator[str]:
    with simulator_subprocess(time_scale) as (url, _):
        yield url


@contextmanager
def simulator_subprocess(time_scale: float) -> Iterator[tuple[str, int]]:
    """(url, pid) of the simulated cluster running as its own process."""
    port = free_port()
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
        yield url, process.pid
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


# A status body of typical size, for the server comparison (both servers answer the same bytes).
_STATUS_BODY = json.dumps(
    {
        "status": "running",
        "stage": "training",
        "progress": 41.3,
        "current_step": 155,
        "total_steps": 375,
        "metrics": {"training_loss": 0.81, "learning_rate": 0.00017, "throughput": 14.1},
    }
).encode()


def serve_minimal(server: str, port: int, latency_ms: float) -> None:
    """The same trivial status endpoint on threaded werkzeug or on aiohttp (child process)."""
    if server == "werkzeug":
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: object, **kwargs: object) -> None:
                pass

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            time.sleep(latency_ms / 1000)
            start_response("200 OK", [("Content-Type", "application/json")])
            return [_STATUS_BODY]

        make_server("127.0.0.1", port, app, threaded=True, request_handler=Quiet).serve_forever()
        return
    import asyncio

    from aiohttp import web

    async def status(request: web.Request) -> web.Response:
        await asyncio.sleep(latency_ms / 1000)
        return web.Response(body=_STATUS_BODY, content_type="application/json")

    application = web.Application()
    application.router.add_get("/training/status/{job}", status)
    web.run_app(application, host="127.0.0.1", port=port, access_log=None, print=None, backlog=2048)


def compare_servers(jobs: int, latency_ms: float) -> None:
    """Why the simulator is an asyncio server: poll the same endpoint on each, default client."""
    print(f"\nserver choice: {jobs} polls, {latency_ms:g} ms latency, client defaults")
    print(f"{'server':<40}{'seconds':>9}{'server CPU s':>14}{'errors':>8}")
    for server in ("werkzeug", "aiohttp"):
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "benchmarks.poll_concurrency",
            "--serve",
            server,
            "--port",
            str(port),
        ]
        process = subprocess.Popen([*command, "--latency-ms", str(latency_ms)], cwd=ROOT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_for(f"{url}/training/status/probe")
            before = _cpu_seconds(process.pid)
            with ClusterClient(url, API_KEY, read_timeout=30) as client:
                elapsed, errors, _ = time_poll_many(client, [f"job-{i}" for i in range(jobs)])
            cpu = _cpu_seconds(process.pid) - before
            threaded = " (threaded)" if server == "werkzeug" else " (asyncio)"
            print(f"{server + threaded:<40}{elapsed:>9.2f}{cpu:>14.2f}{errors:>8}")
        finally:
            process.terminate()
            process.wait(timeout=10)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux): unlike wall time, not skewed by other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


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


def time_poll_many(client: ClusterClient, ids: list[str]) -> tuple[float, int, float]:
    """(wall seconds, jobs that ended in an error, this process's CPU seconds)."""
    cpu_before, start = time.process_time(), time.perf_counter()
    outcomes = client.poll_many(dict.fromkeys(ids))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_before
    return elapsed, sum(isinstance(outcome, ClusterError) for outcome in outcomes.values()), cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--sequential-jobs", type=int, default=None, help="baseline sample (default: all)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per setting (best is kept)")
    parser.add_argument("--skip-server-comparison", action="store_true")
    parser.add_argument("--serve", choices=["werkzeug", "aiohttp"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_minimal(args.serve, args.port, args.latency_ms)
        return 0

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
        print(f"{'strategy':<40}{'seconds':>9}{'vs sequential':>15}{'client CPU s':>14}{'errors':>8}")
        print(f"{label:<40}{sequential:>9.2f}{1.0:>14.1f}x{'':>14}{0:>8}")
        best = (float("inf"), "")
        for concurrency in CONCURRENCY:
            with ClusterClient(url, API_KEY, read_timeout=30, poll_concurrency=concurrency) as client:
                runs = [time_poll_many(client, ids) for _ in range(args.repeat)]
            elapsed, errors, cpu = min(runs)
            name = f"poll_many, {concurrency} in flight"
            print(f"{name:<40}{elapsed:>9.2f}{sequential / elapsed:>14.1f}x{cpu:>14.2f}{errors:>8}")
            if errors == 0 and elapsed < best[0]:
                best = (elapsed, name)
        default = f"poll_many, {DEFAULT_POLL_CONCURRENCY} in flight"
        print(f"\nfastest: {best[1]} = {best[0]:.2f} s ({sequential / best[0]:.1f}x sequential)")
        print(f"client default: {default}; target: <= 3 s for 1,000 jobs at 50 ms")
    if not args.skip_server_comparison:
        compare_servers(args.jobs, args.latency_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
