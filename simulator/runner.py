"""Running the simulated cluster: as a foreground process (the CLI) or on a background thread.

``start_simulator_in_thread`` is what tests and the embedded demo use: it binds a real port (0 =
any free one), serves on its own event loop in a daemon thread, and returns a handle with ``url``
and ``stop()``. The product then talks to it over real HTTP exactly as to any cluster.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulator.faults import ClusterFaults
from simulator.server import build_app
from simulator.state import SimCluster


@dataclass
class SimulatorHandle:
    """A simulator serving on a background thread."""

    url: str
    cluster: SimCluster
    faults: ClusterFaults
    _loop: asyncio.AbstractEventLoop
    _runner: web.AppRunner
    _thread: threading.Thread

    def set_faults(self, **changes: Any) -> None:
        """Change the cluster-wide faults from the test's thread (same rules as POST /_sim/faults)."""

        async def apply() -> None:
            self.faults.update(changes)

        asyncio.run_coroutine_threadsafe(apply(), self._loop).result(timeout=5)

    def stop(self) -> None:
        """Close the listening socket and the loop; idempotent."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SimulatorHandle(url={self.url!r})"


def _cluster_faults(latency_ms: float, error_rate: float) -> ClusterFaults:
    faults = ClusterFaults()
    faults.update({"latency_ms": latency_ms, "error_rate": error_rate})
    return faults


def start_simulator_in_thread(
    *,
    api_key: str,
    time_scale: float = 1.0,
    host: str = "127.0.0.1",
    port: int = 0,
    latency_ms: float = 0.0,
    error_rate: float = 0.0,
) -> SimulatorHandle:
    """Serve a simulated cluster on a daemon thread; returns once it accepts connections."""
    cluster = SimCluster(time_scale=time_scale)
    faults = _cluster_faults(latency_ms, error_rate)
    app = build_app(cluster, api_key=api_key, faults=faults)
    loop = asyncio.new_event_loop()
    # In-flight requests (e.g. with injected latency) are not waited for at stop: tests tear down fast.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    started = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, host, port, backlog=2048).start())
        except BaseException as exc:  # reported to the caller below, not swallowed
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()
        # Requests still waiting on injected latency: cancel them so the loop closes cleanly.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=serve, name="cluster-simulator", daemon=True)
    thread.start()
    started.wait(timeout=30)
    if failure:
        raise failure[0]
    bound_host, bound_port = runner.addresses[0][:2]
    return SimulatorHandle(
        url=f"http://{bound_host}:{bound_port}",
        cluster=cluster,
        faults=faults,
        _loop=loop,
        _runner=runner,
        _thread=thread,
    )


def serve_simulator(
    *,
    host: str,
    port: int,
    time_scale: float = 1.0,
    api_key: str | None = None,
    latency_ms: float = 0.0,
    error_rate: float = 0.0,
    quiet: bool = False,
) -> int:
    """The ``lora-pipeline cluster-sim`` process: serve until interrupted. Exit 2 on bad options."""
    key = api_key or os.environ.get("GPU_CLUSTER_API_KEY", "")
    if not key:
        print("error: the simulated cluster needs --api-key or GPU_CLUSTER_API_KEY", file=sys.stderr)
        return 2
    if not time_scale > 0:
        print("error: --time-scale must be a positive number", file=sys.stderr)
        return 2
    try:
        faults = _cluster_faults(latency_ms, error_rate)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = build_app(SimCluster(time_scale=time_scale), api_key=key, faults=faults)

    def announce(*_: Any) -> None:
        if not quiet:
            print(f"simulated GPU cluster on http://{host}:{port} (time scale {time_scale:g}x)", flush=True)

    web.run_app(app, host=host, port=port, access_log=None, print=announce, backlog=2048)
    return 0
