"""`lora-pipeline web`: gunicorn serving `app:create_app()` with settings checked before forking."""

from __future__ import annotations

import logging
import os
import sys

from settings import Settings

log = logging.getLogger(__name__)


def gunicorn_argv(settings: Settings, *, host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(max(1, workers)),
        "--threads",
        "4",
        "--worker-class",
        "gthread",
        # In-flight requests get this long to finish on SIGTERM before workers are stopped.
        "--graceful-timeout",
        "30",
        "--timeout",
        "60",
        "--access-logfile",
        "-",
        "app:create_server()",
    ]


def serve_web(settings: Settings, *, host: str, port: int, workers: int) -> int:
    from db.migrate import current_revision
    from db.session import make_engine

    revision = current_revision(make_engine(settings.database_url))
    if revision is None:
        print("error: the database has no schema yet; run `lora-pipeline db upgrade` first")
        return 2
    from logging_setup import product_version

    # The role's one start-up line (the same words as configure_logging's), before gunicorn replaces us.
    print(
        f"starting web, version {product_version()}, on http://{host}:{port} "
        f"({workers} workers, schema {revision}), {settings!r}",
        file=sys.stderr,
        flush=True,
    )
    argv = gunicorn_argv(settings, host=host, port=port, workers=workers)
    os.execvp(argv[0], argv)  # replace this process: signals go straight to gunicorn's master
    return 0  # pragma: no cover
