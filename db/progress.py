"""Writing many jobs' progress in one statement, forward only.

A report older than what is stored (a slow poll overtaken by a callback, or a second cycle) must
not move a job backwards, and nothing may touch a job that is no longer running. The UPDATE matches
every running job of the batch: the step only grows (GREATEST), progress, stage, epoch and metrics
change only with a step at least the stored one, and the job is marked seen either way, so one
report with a step nobody will reach again never freezes the job or makes it look lost.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, text, update
from sqlalchemy.orm import Session

from db.models import JobStatus, TrainingJob


@dataclass(frozen=True)
class ProgressRow:
    """One row of the bulk progress UPDATE."""

    id: uuid.UUID
    progress: float
    current_epoch: int | None
    current_step: int
    current_stage: str | None
    current_metrics: dict[str, float] | None
    current_cost: Decimal
    total_steps: int | None
    seen_at: datetime


_PG_PROGRESS = text("""
UPDATE lora_training_jobs AS j SET
    progress = CASE WHEN r.current_step >= j.current_step THEN r.progress ELSE j.progress END,
    current_epoch = CASE WHEN r.current_step >= j.current_step
        THEN COALESCE(r.current_epoch, j.current_epoch) ELSE j.current_epoch END,
    current_step = GREATEST(r.current_step, j.current_step),
    current_stage = CASE WHEN r.current_step >= j.current_step
        THEN COALESCE(r.current_stage, j.current_stage) ELSE j.current_stage END,
    current_metrics = CASE WHEN r.current_step >= j.current_step
        THEN COALESCE(r.current_metrics, j.current_metrics) ELSE j.current_metrics END,
    current_cost = GREATEST(r.current_cost, j.current_cost),
    total_steps = COALESCE(r.total_steps, j.total_steps),
    last_polled_at = r.seen_at,
    last_seen_at = GREATEST(r.seen_at, j.last_seen_at),
    updated_at = r.seen_at
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
    id uuid, progress float8, current_epoch integer, current_step integer, current_stage text,
    current_metrics jsonb, current_cost numeric, total_steps integer, seen_at timestamptz)
WHERE j.id = r.id AND j.status = 'running'
""")


def update_progress(session: Session, rows: Sequence[ProgressRow]) -> int:
    """One UPDATE for all rows (PostgreSQL: from a JSON recordset; SQLite: executemany)."""
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        # A cycle stamps every row with the same instant: format each distinct one once.
        stamps = {row.seen_at: row.seen_at.isoformat() for row in rows}
        payload = json.dumps(
            [
                {
                    "id": str(row.id),
                    "progress": row.progress,
                    "current_epoch": row.current_epoch,
                    "current_step": row.current_step,
                    "current_stage": row.current_stage,
                    "current_metrics": row.current_metrics,
                    "current_cost": str(row.current_cost),
                    "total_steps": row.total_steps,
                    "seen_at": stamps[row.seen_at],
                }
                for row in rows
            ]
        )
        return max(int(getattr(session.execute(_PG_PROGRESS, {"rows": payload}), "rowcount", 0)), 0)
    return _update_progress_each(session, rows)


def _update_progress_each(session: Session, rows: Sequence[ProgressRow]) -> int:
    """SQLite: a forward report as the PostgreSQL statement does; a backward one only marks the job seen."""
    table = cast(Table, TrainingJob.__table__)
    seen = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.status == JobStatus.RUNNING.value,
            table.c.current_step > bindparam("b_step"),
        )
        .values(
            current_cost=case(
                (table.c.current_cost < bindparam("b_cost"), bindparam("b_cost")),
                else_=table.c.current_cost,
            ),
            last_polled_at=bindparam("b_seen"),
            last_seen_at=bindparam("b_seen"),
            updated_at=bindparam("b_seen"),
        )
    )
    stmt = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.status == JobStatus.RUNNING.value,
            table.c.current_step <= bindparam("b_step"),
        )
        .values(
            progress=bindparam("b_progress"),
            current_step=bindparam("b_step"),
            current_cost=bindparam("b_cost"),
            last_polled_at=bindparam("b_seen"),
            last_seen_at=bindparam("b_seen"),
            updated_at=bindparam("b_seen"),
        )
    )
    count = 0
    for row in rows:
        values: dict[str, Any] = {}
        if row.current_epoch is not None:
            values["current_epoch"] = row.current_epoch
        if row.current_stage is not None:
            values["current_stage"] = row.current_stage
        if row.current_metrics:
            values["current_metrics"] = row.current_metrics
        if row.total_steps:
            values["total_steps"] = row.total_steps
        params = {
            "b_id": row.id,
            "b_step": row.current_step,
            "b_progress": row.progress,
            "b_cost": row.current_cost,
            "b_seen": row.seen_at,
        }
        count += max(int(getattr(session.execute(stmt.values(**values), params), "rowcount", 0)), 0)
        seen_params = {key: params[key] for key in ("b_id", "b_step", "b_cost", "b_seen")}
        count += max(int(getattr(session.execute(seen, seen_params), "rowcount", 0)), 0)
    return count
