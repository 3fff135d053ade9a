"""A throwaway PostgreSQL cluster of a test's own, so the test may stop and start it at will.

The shared server on 5432 serves everyone else's tests and is never touched: this one is made by
`initdb` in a temporary directory, listens on a free loopback port, and is removed afterwards. As
root, the server binaries run as the `postgres` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.ports import free_port


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


@dataclass
class PrivatePostgres:
    data_dir: Path
    port: int
    bin_dir: Path
    as_postgres: bool

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/pipeline"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, timeout=timeout, capture_output=True)

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.data_dir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            action,
            *extra,
        )

    def start(self) -> None:
        self.pg_ctl("start")

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as in a real restart."""
        self.pg_ctl("stop", "-m", "fast")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _bin_dir()
    as_postgres = os.geteuid() == 0
    if bin_dir is None or (as_postgres and shutil.which("runuser") is None):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="pipeline-pg-"))
    data_dir = root / "data"
    if as_postgres:
        shutil.chown(root, "postgres")
    server = PrivatePostgres(data_dir, free_port(), bin_dir, as_postgres)
    try:
        server._run("initdb", "-D", str(data_dir), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        server.start()
        admin = create_engine(server.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE pipeline"))
        admin.dispose()
        yield server
    finally:
        with suppress(subprocess.SubprocessError):
            server._run("pg_ctl", "-D", str(data_dir), "stop", "-m", "immediate", "-w")
        shutil.rmtree(root, ignore_errors=True)
