"""What a web process shares across requests: settings, the database, and Redis when configured.

Stored on the Flask app (never in module globals) so tests can build several apps side by side
and gunicorn workers each hold their own connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.session import make_engine, make_session_factory
from settings import Settings

if TYPE_CHECKING:
    from redis import Redis

EXTENSION_KEY = "pipeline"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: Redis | None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work; commits on success, rolls back on error."""
        with self.sessions.begin() as session:
            yield session

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        redis = None
        if settings.redis_url:
            from redis import Redis

            redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        return cls(settings=settings, engine=engine, sessions=make_session_factory(engine), redis=redis)


def install(app: Flask, runtime: Runtime) -> None:
    app.extensions[EXTENSION_KEY] = runtime


def get_runtime() -> Runtime:
    runtime: Runtime = current_app.extensions[EXTENSION_KEY]
    return runtime


def ui_poll_seconds() -> float:
    """UI_POLL_SECONDS of this app; the default when no app is at hand (Dash builds layouts outside
    a request, e.g. its validation layout)."""
    try:
        return get_runtime().settings.ui_poll_seconds
    except (RuntimeError, KeyError):
        return Settings.ui_poll_seconds  # the setting's default
