"""Migration 0002: cost records' `billing_period` widens from the month to the spec's date, on both databases.

Rows written before it (a month) get the day of their job's completion, the instant the month
was computed from; a row whose job says nothing usable keeps its month, on the 1st.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, create_engine, text

from db.base import JSONType, Money, UTCDateTime
from db.migrate import upgrade
from db.session import make_engine
from tests.fixtures.databases import PG_ADMIN_URL, unavailable

JOB = uuid.UUID("00000000-0000-4000-8000-000000000001")
ORPHAN_MONTH_JOB = uuid.UUID("00000000-0000-4000-8000-000000000002")


@contextmanager
def _fresh_engine(dialect: str, tmp_path) -> Iterator[Engine]:
    if dialect == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'billing.sqlite3'}")
        yield engine
        engine.dispose()
        return
    name = f"pipeline_mig_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        unavailable("PostgreSQL", exc)
    engine = make_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _seed_month_rows(engine: Engine) -> None:
    """A user, two completed jobs and their cost records as revision 0001 wrote them (a month).

    Core tables naming only 0001's columns, so later columns on the models cannot break the seed.
    """
    done = datetime(2026, 11, 30, 23, 59, 58, tzinfo=UTC)
    users = sa.table("users", *_columns("id email password_hash session_generation created_at"))
    datasets = sa.table(
        "lora_datasets",
        *_columns(
            "id user_id name format storage_bucket storage_path "
            "total_training_pairs total_tokens file_size status created_at"
        ),
    )
    jobs = sa.table(
        "lora_training_jobs",
        *_columns(
            "id user_id dataset_id preset_id hyperparameters "
            "gpu_config status progress current_epoch total_epochs current_step total_steps "
            "current_metrics current_cost queued_at completed_at created_at updated_at submit_attempts",
            id=sa.Uuid(),
        ),
    )
    costs = sa.table(
        "lora_cost_records", *_columns("user_id job_id cost_type amount details billing_period recorded_at")
    )
    with engine.begin() as connection:
        connection.execute(
            users.insert().values(
                id=1, email="m@example.com", password_hash="x", session_generation=0, created_at=done
            )
        )
        connection.execute(
            datasets.insert().values(
                id=1,
                user_id=1,
                name="d",
                format="chatml",
                storage_bucket="datasets",
                storage_path="d.jsonl",
                total_training_pairs=1,
                total_tokens=1,
                file_size=1,
                status="ready",
                created_at=done,
            )
        )
        for job_id, completed in ((JOB, done), (ORPHAN_MONTH_JOB, None)):
            connection.execute(
                jobs.insert().values(
                    id=job_id,
                    user_id=1,
                    dataset_id=1,
                    preset_id="fast",
                    hyperparameters={},
                    gpu_config={},
                    status="completed",
                    progress=100.0,
                    current_epoch=1,
                    total_epochs=1,
                    current_step=1,
                    total_steps=1,
                    current_metrics={},
                    current_cost=Decimal("1.5"),
                    queued_at=done,
                    completed_at=completed,
                    created_at=done,
                    updated_at=done,
                    submit_attempts=0,
                )
            )
            connection.execute(
                costs.insert().values(
                    user_id=1,
                    job_id=job_id,
                    cost_type="training_compute",
                    amount=Decimal("1.5"),
                    details={},
                    billing_period="2026-11",
                    recorded_at=done,
                )
            )


_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "job_id": sa.Uuid(),
    "hyperparameters": JSONType,
    "gpu_config": JSONType,
    "current_metrics": JSONType,
    "details": JSONType,
    "amount": Money(),
    "current_cost": Money(),
}


def _columns(names: str, **overrides: sa.types.TypeEngine[Any]) -> list[sa.ColumnClause[Any]]:
    typed = []
    for name in names.split():
        kind = overrides.get(name, _TYPES.get(name))
        if name.endswith("_at"):
            kind = UTCDateTime()
        typed.append(sa.column(name, kind))
    return typed


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_month_rows_become_the_completion_date(dialect: str, tmp_path) -> None:
    with _fresh_engine(dialect, tmp_path) as engine:
        upgrade(engine, "0001")
        _seed_month_rows(engine)
        upgrade(engine)
        with engine.connect() as connection:
            periods: dict[Any, str] = dict(
                connection.execute(text("SELECT job_id, billing_period FROM lora_cost_records")).all()
            )
        by_job = {uuid.UUID(str(key)): value for key, value in periods.items()}
        assert by_job[JOB] == "2026-11-30"  # the UTC day of completed_at, as the new code writes it
        assert by_job[ORPHAN_MONTH_JOB] == "2026-11-01"  # no completion instant: its month, on the 1st
