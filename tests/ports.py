"""Free loopback ports for the servers tests start (dash_duo, the simulated cluster, real processes)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now: the kernel picks it from its ephemeral range at random, so
    parallel test workers (and other test runs on the machine) do not race for the same one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
