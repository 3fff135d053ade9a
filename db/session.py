"""Engine and session factory. The caller owns the session and its transaction (STYLE.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """Create the engine for `database_url`.

    PostgreSQL: `pool_pre_ping` so that a server restart costs one failed checkout, not a process
    restart. SQLite (embedded default only): WAL and a busy timeout so the web thread and the cycle
    timer can share the file, and foreign keys switched on as PostgreSQL has them.
    """
    if database_url.startswith("sqlite"):
        _ensure_sqlite_folder(database_url)
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(database_url, pool_pre_ping=True, pool_recycle=1800, **kwargs)


def _ensure_sqlite_folder(database_url: str) -> None:
    """SQLite opens a file but never creates its folder: a fresh DATA_DIR would fail with the
    unhelpful "unable to open database file" instead of just working."""
    database = make_url(database_url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory.begin() as session:
        yield session


def rows_affected(result: Result[Any]) -> int:
    """Rows matched by an UPDATE/DELETE: how a conditional update learns whether it won."""
    return cast(CursorResult[Any], result).rowcount
