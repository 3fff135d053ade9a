"""lora_training_jobs.health_checks and health_state: run-health settings and running state

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Existing rows get empty objects: their checks run with the catalogue defaults
(catalog/health_checks.resolved_health_config) from their next ingested point.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("lora_training_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("health_checks", json, nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("health_state", json, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("lora_training_jobs", schema=None) as batch_op:
        batch_op.drop_column("health_state")
        batch_op.drop_column("health_checks")
