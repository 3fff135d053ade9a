"""Metric ingestion rate on PostgreSQL: the product's path with rollups vs raw COPY (the anchor).

    .venv/bin/python -m benchmarks.ingest_rate [--points 100000] [--jobs 1000] [--batches 5]

Prints points/s for: raw binary COPY straight into the points table (no dedup, no rollups: the
anchor), the product's path (`insert_points`: binary COPY into a staging table, then one statement
that inserts with ON CONFLICT DO NOTHING ... RETURNING and merges the inserted points' rollups),
in `--batches` transactions like processor cycles, a re-ingest of the same points (all duplicates:
the dedup cost), executemany (insertmanyvalues, no rollups) and row-by-row ORM (add + flush per
point, on a sample: the naive baseline). Target: insert_points >= 150,000 points/s.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from benchmarks.scratch_db import scratch_database
from catalog.metrics import metric_names
from db.base import utcnow
from db.metric_rollups import rollup_series
from db.metric_store import PointRow, columns, copy_statements, executemany_insert, insert_points
from db.models import Dataset, JobStatus, MetricPoint, MetricRollup, TrainingJob, User
from db.session import make_session_factory


def make_jobs(engine: Engine, count: int) -> list[uuid.UUID]:
    with make_session_factory(engine).begin() as session:
        user = User(email=f"bench-{uuid.uuid4().hex[:6]}@example.com", password_hash="x")
        session.add(user)
        session.flush()
        dataset = Dataset(user_id=user.id, name="d", format="jsonl", storage_path="d.jsonl")
        session.add(dataset)
        session.flush()
        jobs = [
            TrainingJob(
                user_id=user.id,
                dataset_id=dataset.id,
                preset_id="balanced",
                status=JobStatus.RUNNING.value,
                gpu_config={"type": "A100-80GB", "count": 1},
            )
            for _ in range(count)
        ]
        session.add_all(jobs)
        session.flush()
        return [job.id for job in jobs]


def make_points(job_ids: list[uuid.UUID], total: int, first_step: int = 0) -> list[PointRow]:
    per_job = max(1, total // len(job_ids))
    now = utcnow()
    rng = random.Random(7)
    rows: list[PointRow] = []
    for job_id in job_ids:
        for step in range(first_step, first_step + per_job):
            rows.append(
                (
                    job_id,
                    now + timedelta(milliseconds=step),
                    step / 100,
                    step,
                    rng.uniform(0.5, 3),
                    None if step % 10 else rng.uniform(0.5, 3),
                    2e-4,
                    rng.uniform(0.1, 2),
                    rng.uniform(1000, 5000),
                    rng.uniform(60, 100),
                )
            )
    return rows[:total]


def raw_copy(session: Session, rows: list[PointRow]) -> int:
    """The anchor: binary COPY straight into the points table (no dedup, no rollups)."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    statements = copy_statements(metric_names(), rollup_series())
    sql = f"COPY lora_metrics_points ({', '.join(columns())}) FROM STDIN (FORMAT BINARY)"
    with driver.cursor() as cursor, cursor.copy(sql) as copy:
        copy.set_types(list(statements.copy_types))
        for row in rows:
            copy.write_row(row)
    return len(rows)


def in_batches(batches: int) -> Callable[[Session, list[PointRow]], int]:
    """`insert_points` over `batches` slices of the rows, each in its own transaction (a cycle each)."""

    def run(session: Session, rows: list[PointRow]) -> int:
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        factory = make_session_factory(engine)
        size = -(-len(rows) // batches)
        inserted = 0
        for start in range(0, len(rows), size):
            with factory.begin() as batch:
                inserted += insert_points(batch, rows[start : start + size])
        return inserted

    return run


def orm_row_by_row(session: Session, rows: list[PointRow]) -> int:
    for row in rows:
        session.add(MetricPoint(**dict(zip(columns(), row, strict=True))))
        session.flush()
    return len(rows)


def timed(
    engine: Engine, label: str, rows: list[PointRow], fn: Callable[[Session, list[PointRow]], int]
) -> float:
    factory = make_session_factory(engine)
    start = time.perf_counter()
    with factory.begin() as session:
        inserted = fn(session, rows)
    seconds = time.perf_counter() - start
    rate = len(rows) / seconds
    print(
        f"{label:<44} {len(rows):>8,} points {seconds:8.3f} s {rate:>12,.0f} points/s  (inserted {inserted:,})"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--orm-sample", type=int, default=5_000)
    args = parser.parse_args()
    with scratch_database() as (_url, engine):
        job_ids = make_jobs(engine, args.jobs)
        per_job = args.points // args.jobs
        # Each method writes fresh steps so none of them is measuring a pure-duplicate path.
        anchor = timed(
            engine, "raw COPY (no dedup, no rollups): anchor", make_points(job_ids, args.points, 0), raw_copy
        )
        fresh = make_points(job_ids, args.points, per_job)
        label = f"insert_points + rollups, {args.batches} batches"
        bulk = timed(engine, label, fresh, in_batches(args.batches))
        again = timed(engine, "insert_points, same points again (dedup)", fresh, insert_points)
        many = timed(
            engine,
            "executemany (insertmanyvalues, no rollups)",
            make_points(job_ids, args.points, 20_000_000),
            executemany_insert,
        )
        baseline = timed(
            engine,
            "row-by-row ORM (add + flush, no rollups)",
            make_points(job_ids[:50], args.orm_sample, 10_000_000),
            orm_row_by_row,
        )
        with engine.connect() as connection:
            stored = connection.scalar(select(func.count()).select_from(MetricPoint))
            rollups = connection.scalar(select(func.count()).select_from(MetricRollup))
            size = connection.scalar(
                text("select pg_size_pretty(pg_total_relation_size('lora_metrics_points'))")
            )
        print(
            f"\nstored {stored:,} points ({size}), {rollups:,} rollup rows; duplicates skipped on re-ingest"
        )
        print(
            f"insert_points + rollups vs raw COPY: {bulk / anchor:.2f}x; vs row-by-row ORM: {bulk / baseline:,.1f}x; "
            f"vs insertmanyvalues: {bulk / many:,.1f}x"
        )
        print(
            f"target >= 150,000 points/s: {'MET' if bulk >= 150_000 else 'MISSED'} ({bulk:,.0f}); dedup pass {again:,.0f}/s"
        )


if __name__ == "__main__":
    main()
