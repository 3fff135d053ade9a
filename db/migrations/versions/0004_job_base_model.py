"""lora_training_jobs.base_model: the base model a job fine-tunes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Existing rows get the catalogue default (the specification's mistralai/Mistral-7B-v0.1), which is
what every job before this column trained as far as the product knew.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DEFAULT_BASE_MODEL = "mistralai/Mistral-7B-v0.1"  # frozen here: a migration never follows the catalogue


def upgrade() -> None:
    with op.batch_alter_table("lora_training_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("base_model", sa.String(length=200), nullable=False, server_default=DEFAULT_BASE_MODEL)
        )


def downgrade() -> None:
    with op.batch_alter_table("lora_training_jobs", schema=None) as batch_op:
        batch_op.drop_column("base_model")
