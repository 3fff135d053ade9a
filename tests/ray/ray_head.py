"""A real Ray head for tests, sandboxed in a network namespace this process creates.

Ray binds its GCS, raylet and agents to every interface and swaps 127.0.0.1 for the host's routable
address, so a head started on the host would be reachable by (and collide with) anything on the
network. Here it runs inside a fresh network namespace joined to the host by one veth pair on a
private /30: the test talks to the dashboard at the namespace side's address, and the jobs reach our
dataset/callback server at the host side's address. Nothing else can reach it.

The head runs as ``ray start --head --block`` under a PID we own and is stopped by signalling that
PID (and, if anything is left, the exact PIDs ``ip netns pids`` lists). Never ``ray stop``: it kills
Ray processes by name across the whole host.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

DASHBOARD_PORT = 8265


@dataclass(frozen=True)
class RayHead:
    namespace: str
    host_ip: str  # the host side of the veth: where jobs reach our servers
    head_ip: str  # the namespace side: where the dashboard listens
    pid: int
    log: Path

    @property
    def address(self) -> str:
        return f"http://{self.head_ip}:{DASHBOARD_PORT}"


def sandbox_problem() -> str | None:
    """Why a namespaced Ray head cannot be started here, or None when it can."""
    ray = Path(sys.executable).parent / "ray"
    if not ray.exists():
        return f"ray is not installed in {sys.prefix} (pip install 'ray[default]')"
    if os.geteuid() != 0:
        return "creating a network namespace needs root (ip netns add)"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    return None


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)


@contextmanager
def ray_head_in_namespace(
    log_dir: Path, *, num_cpus: int = 2, start_timeout: float = 60.0
) -> Iterator[RayHead]:
    """Start a Ray head inside a new network namespace; tear both down afterwards."""
    tag = f"{os.getpid() % 10000}"
    namespace, host_if, ns_if = f"plray{tag}", f"plrh{tag}", f"plrn{tag}"
    octet = 16 + os.getpid() % 200
    host_ip, head_ip = f"10.231.{octet}.1", f"10.231.{octet}.2"
    log = log_dir / "ray-head.log"
    process: subprocess.Popen[bytes] | None = None
    _run("ip", "netns", "add", namespace)
    try:
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _run("ip", "link", "set", ns_if, "netns", namespace)
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "netns", "exec", namespace, "ip", "addr", "add", f"{head_ip}/30", "dev", ns_if)
        _run("ip", "netns", "exec", namespace, "ip", "link", "set", ns_if, "up")
        _run("ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
        with log.open("wb") as out:
            # `ip netns exec` execs the command, so this PID is the `ray start --block` process itself.
            process = subprocess.Popen(
                [
                    "ip", "netns", "exec", namespace,
                    str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
                    "--dashboard-host", head_ip, "--dashboard-port", str(DASHBOARD_PORT),
                    "--num-cpus", str(num_cpus), "--num-gpus", "0", "--disable-usage-stats",
                ],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log_dir,
            )  # fmt: skip
        head = RayHead(namespace, host_ip, head_ip, process.pid, log)
        _wait_for_dashboard(head, process, start_timeout)
        yield head
    finally:
        if process is not None:
            _stop(process, namespace)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def _wait_for_dashboard(head: RayHead, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ray start exited with {process.returncode}: {head.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{head.address}/api/version", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(
        f"the Ray dashboard did not answer within {timeout:g} s: {head.log.read_text()[-2000:]}"
    )


def _stop(process: subprocess.Popen[bytes], namespace: str) -> None:
    """SIGTERM our `ray start --block`; then any PID still inside our namespace, by PID."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for attempt in range(20):
        left = subprocess.run(
            ["ip", "netns", "pids", namespace], capture_output=True, text=True
        ).stdout.split()
        if not left:
            return
        for pid in left:
            with suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL if attempt > 5 else signal.SIGTERM)
        time.sleep(0.5)
