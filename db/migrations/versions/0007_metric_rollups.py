"""lora_metrics_rollups: per-bucket rollups of each job's metric points, at five widths

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Built here for the points already stored (one grouping pass on PostgreSQL; folded per job in
Python on SQLite); from then on the ingest path keeps them (db/metric_rollups.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.base import UTCDateTime
from db.metric_rollups import python_rollups, rebuild_rollups, upsert_python_rollups

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The catalogue's API series when this revision was written (a later metric brings its own migration).
SERIES = ("training_loss", "validation_loss", "learning_rate", "gradient_norm", "throughput", "gpu_utilization")


def upgrade() -> None:
    series_columns: list[sa.Column[object]] = []
    for name in SERIES:
        series_columns += [
            sa.Column(f"{name}_n", sa.Integer(), nullable=False),
            sa.Column(f"{name}_min", sa.Float(), nullable=True),
            sa.Column(f"{name}_min_step", sa.Integer(), nullable=True),
            sa.Column(f"{name}_max", sa.Float(), nullable=True),
            sa.Column(f"{name}_max_step", sa.Integer(), nullable=True),
        ]
    op.create_table(
        "lora_metrics_rollups",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("first_step", sa.Integer(), nullable=False),
        sa.Column("first_ts", sa.Float(), nullable=False),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("last_ts", sa.Float(), nullable=False),
        *series_columns,
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["lora_training_jobs.id"],
            name=op.f("fk_lora_metrics_rollups_job_id_lora_training_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "width", "bucket", name=op.f("pk_lora_metrics_rollups")),
    )
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        rebuild_rollups(bind, SERIES)
        return
    session = sa.orm.Session(bind=bind)
    points = sa.table(
        "lora_metrics_points", sa.column("job_id", sa.Uuid()), sa.column("step"), sa.column("timestamp", UTCDateTime()),
        *(sa.column(name) for name in SERIES),
    )
    job_ids = [row[0] for row in bind.execute(sa.select(points.c.job_id).distinct())]
    for job_id in job_ids:
        rows = bind.execute(
            sa.select(points.c.job_id, points.c.step, points.c.timestamp, *(points.c[n] for n in SERIES))
            .where(points.c.job_id == job_id)
            .order_by(points.c.step)
        ).all()
        stamped = [(r[0], r[1], r[2].timestamp(), *r[3:]) for r in rows]
        upsert_python_rollups(session, python_rollups(stamped, SERIES), SERIES)


def downgrade() -> None:
    op.drop_table("lora_metrics_rollups")
