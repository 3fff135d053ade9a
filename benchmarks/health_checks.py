"""Cost of the run-health checks in the ingest path: `check_health` for many jobs' new points.

    .venv/bin/python -m benchmarks.health_checks [--jobs 1000] [--points 17] [--rounds 4] [--noisy]

Times one `check_health` call (one SELECT of settings and state, the pure evaluation, one bulk
UPDATE of the states) for `--jobs` running jobs with `--points` new points each, as one poll cycle
of that many jobs would, next to `insert_points` for the same rows (what ingestion already paid).
Each round first runs the previous implementation (`check_health_before`: two deep copies of each
state and a dict per point) inside a savepoint that is rolled back, then the current one over the
same states, and prints the process CPU per job of both and their ratio.
"""

from __future__ import annotations

import argparse
import copy
import gc
import math
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from benchmarks.ingest_rate import make_jobs, make_points
from benchmarks.scratch_db import scratch_database
from catalog.health_checks import resolved_health_config
from db.base import utcnow
from db.metric_store import PointRow, columns, insert_points
from db.models import JobStatus, TrainingJob
from db.session import make_session_factory
from services.health import Firing, evaluate
from services.run_health import check_health, non_finite_losses, record_firing

Batch = tuple[uuid.UUID, Sequence[PointRow], Sequence[str], int]
CheckHealth = Callable[..., list[Firing]]


def check_health_before(
    session: Session, batches: Sequence[Batch], *, source: str, now: datetime
) -> list[Firing]:
    """The baseline: `check_health` as it was before it was made cheap (same results)."""
    by_id = {job_id: (rows, notes, step) for job_id, rows, notes, step in batches if rows or notes}
    jobs = session.execute(
        select(
            TrainingJob.id, TrainingJob.health_checks, TrainingJob.health_state, TrainingJob.total_steps
        ).where(TrainingJob.id.in_(list(by_id)), TrainingJob.status == JobStatus.RUNNING.value)
    ).all()
    names = columns()
    fired: list[Firing] = []
    changed: list[dict[str, Any]] = []
    for job in jobs:
        rows, notes, current_step = by_id[job.id]
        state = copy.deepcopy(job.health_state) if isinstance(job.health_state, dict) else {}
        before = copy.deepcopy(state)
        firings = evaluate(
            resolved_health_config(job.health_checks),
            state,
            [dict(zip(names[3:], row[3:], strict=True)) for row in rows],
            total_steps=job.total_steps or 0,
            non_finite=non_finite_losses(notes, rows, current_step),
        )
        if state != before:
            changed.append({"id": job.id, "health_state": state})
        for firing in firings:
            record_firing(session, job.id, firing, source=source, now=now)
        fired += firings
    if changed:
        session.execute(update(TrainingJob), changed)
    return fired


def quiet_points(job_ids: list[uuid.UUID], per_job: int, first_step: int) -> list[PointRow]:
    """A healthy run's points (falling loss, steady gradients, throughput and GPU): nothing fires,
    so the figure is the evaluation's own cost, not the rare firing's event and notification."""
    rng = random.Random(7)
    now = utcnow()
    rows: list[PointRow] = []
    for job_id in job_ids:
        for step in range(first_step, first_step + per_job):
            loss = 0.3 + 2.2 * math.exp(-step / 400) + rng.uniform(-0.02, 0.02)
            rows.append(
                (
                    job_id,
                    now + timedelta(milliseconds=step),
                    step / 100,
                    step,
                    loss,
                    None if step % 10 else loss * 1.05,
                    2e-4,
                    rng.uniform(0.4, 0.6),
                    rng.uniform(2900, 3100),
                    rng.uniform(80, 95),
                )
            )
    return rows


def timed(check: CheckHealth, session: Session, batches: Sequence[Batch]) -> tuple[float, float, int]:
    """(CPU seconds of this process, wall seconds, firings) of one call, after a full collection so
    neither side pays for the other's garbage."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    fired = check(session, batches, source="poll", now=utcnow())
    return time.process_time() - cpu, time.perf_counter() - wall, len(fired)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--points", type=int, default=17, help="new points per job")
    parser.add_argument("--rounds", type=int, default=4, help="the first fills the states")
    parser.add_argument("--noisy", action="store_true", help="ingest_rate's random points (many firings)")
    args = parser.parse_args()
    with scratch_database() as (_url, engine):
        sessions = make_session_factory(engine)
        job_ids = make_jobs(engine, args.jobs)
        for round_number in range(args.rounds):
            first_step = 1 + round_number * args.points
            if args.noisy:
                rows = make_points(job_ids, args.jobs * args.points, first_step=first_step)
            else:
                rows = quiet_points(job_ids, args.points, first_step)
            by_job: dict[uuid.UUID, list[PointRow]] = defaultdict(list)
            for row in rows:
                by_job[row[0]].append(row)
            batches = [(job_id, points, (), points[-1][3]) for job_id, points in by_job.items()]
            with sessions.begin() as session:
                started = time.perf_counter()
                insert_points(session, rows)
                inserted = time.perf_counter() - started
                savepoint = session.begin_nested()
                old = timed(check_health_before, session, batches)
                savepoint.rollback()
                new = timed(check_health, session, batches)
            per_job = 1000 / args.jobs
            print(
                f"round {round_number + 1}: {len(rows):,} points of {args.jobs:,} jobs "
                f"(insert_points {inserted * 1000:.0f} ms wall): check_health CPU "
                f"before {old[0] * per_job:.3f} ms/job, now {new[0] * per_job:.3f} ms/job "
                f"({old[0] / max(new[0], 1e-9):.1f}× less); wall {old[1] * 1000:.0f} -> {new[1] * 1000:.0f} ms; "
                f"fired {old[2]} / {new[2]}"
            )


if __name__ == "__main__":
    main()
