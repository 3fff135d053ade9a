"""cost records' billing_period becomes the UTC date (YYYY-MM-DD), as the specification writes it

Revision ID: 0003
Revises: 0002_accounts
Create Date: 2026-12-03

Existing rows hold a month (`YYYY-MM`) that was computed from the job's `completed_at`
(services/costs.py). The day is recovered from the same instant, so a converted row reads exactly
what the new code writes for that job; a row whose job's `completed_at` is missing or falls in
another month (never written by our code) keeps its month and gets its first day, `YYYY-MM-01`.
The downgrade truncates back to the month, which loses nothing the old schema held.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002_accounts"
branch_labels = None
depends_on = None

# The UTC date of the job's completion, per dialect: SQLite stores UTC text "YYYY-MM-DD HH:MM:SS...".
_COMPLETED_DAY = {
    "postgresql": "to_char(j.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "sqlite": "substr(j.completed_at, 1, 10)",
}


def upgrade() -> None:
    with op.batch_alter_table("lora_cost_records", schema=None) as batch_op:
        batch_op.alter_column(
            "billing_period",
            existing_type=sa.String(length=7),
            type_=sa.String(length=10),
            existing_nullable=False,
        )
    day = _COMPLETED_DAY[op.get_bind().dialect.name]
    op.execute(
        f"""
        UPDATE lora_cost_records SET billing_period = COALESCE(
            (SELECT {day} FROM lora_training_jobs j
              WHERE j.id = lora_cost_records.job_id
                AND substr({day}, 1, 7) = lora_cost_records.billing_period),
            lora_cost_records.billing_period || '-01')
        WHERE length(billing_period) = 7
        """
    )


def downgrade() -> None:
    op.execute("UPDATE lora_cost_records SET billing_period = substr(billing_period, 1, 7)")
    with op.batch_alter_table("lora_cost_records", schema=None) as batch_op:
        batch_op.alter_column(
            "billing_period",
            existing_type=sa.String(length=10),
            type_=sa.String(length=7),
            existing_nullable=False,
        )
