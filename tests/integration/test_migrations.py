"""The migrated schema is exactly what the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from db.migrate import current_revision, upgrade
from db.models import Base
from db.session import make_engine


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_postgres_schema_matches_models(pg_engine: Engine) -> None:
    assert current_revision(pg_engine) is not None
    assert _diff(pg_engine) == []


def test_sqlite_schema_matches_models(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    upgrade(engine)
    assert _diff(engine) == []


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_upgrade_is_idempotent(dialect: str, tmp_path, pg_engine: Engine) -> None:
    engine = pg_engine if dialect == "postgresql" else make_engine(f"sqlite:///{tmp_path / 'i.sqlite3'}")
    upgrade(engine)
    first = current_revision(engine)
    upgrade(engine)
    assert current_revision(engine) == first


def test_constraints_named_in_design_exist(pg_engine: Engine) -> None:
    inspector = inspect(pg_engine)
    metric_uniques = {
        tuple(c["column_names"]) for c in inspector.get_unique_constraints("lora_metrics_points")
    }
    assert ("job_id", "step") in metric_uniques
    cost_uniques = {tuple(c["column_names"]) for c in inspector.get_unique_constraints("lora_cost_records")}
    assert ("job_id", "cost_type") in cost_uniques
    notification_indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("lora_notifications")}
    assert ("user_id", "read_at", "created_at") in notification_indexes
    money = {c["name"]: c["type"] for c in inspector.get_columns("lora_training_jobs")}
    assert money["current_cost"].__class__.__name__ == "NUMERIC"


def test_sqlite_engine_creates_its_missing_data_folder(tmp_path: Path) -> None:
    """A DATA_DIR that does not exist yet is created, not reported as 'unable to open database file'."""
    folder = tmp_path / "not" / "yet" / "here"
    engine = make_engine(f"sqlite:///{folder / 'pipeline.db'}")
    upgrade(engine)
    engine.dispose()
    assert (folder / "pipeline.db").is_file()
