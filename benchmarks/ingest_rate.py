"""Metric ingestion rate on PostgreSQL: bulk paths vs row-by-row ORM inserts (the baseline).

    /work/venv/bin/python -m benchmarks.ingest_rate [--points 100000] [--jobs 1000]

Prints points/s for: row-by-row ORM (add + flush per point, on a sample), executemany
(SQLAlchemy insertmanyvalues, ON CONFLICT DO NOTHING, RETURNING the ids for an exact count as
`insert_points` gives), psycopg's executemany in pipeline mode, and
the product's path (`insert_points`:
binary COPY into a staging table + one INSERT ... SELECT ... ON CONFLICT DO NOTHING), plus a
re-ingest of the same points (all duplicates) to show the dedup cost. Target: >= 50,000 points/s.
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
from db.base import utcnow
from db.metric_store import PointRow, columns, executemany_insert, insert_points
from db.models import Dataset, JobStatus, MetricPoint, TrainingJob, User
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


def orm_row_by_row(session: Session, rows: list[PointRow]) -> int:
    for row in rows:
        session.add(MetricPoint(**dict(zip(columns(), row, strict=True))))
        session.flush()
    return len(rows)


def psycopg_executemany(session: Session, rows: list[PointRow]) -> int:
    """psycopg 3's own executemany (pipeline mode: one round trip for all rows), ON CONFLICT DO NOTHING."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    placeholders = ", ".join(["%s"] * len(columns()))
    sql = (
        f"INSERT INTO lora_metrics_points ({', '.join(columns())}) VALUES ({placeholders}) "  # noqa: S608
        "ON CONFLICT (job_id, step) DO NOTHING"
    )
    with driver.cursor() as cursor:
        cursor.executemany(sql, rows)
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
    parser.add_argument("--orm-sample", type=int, default=5_000)
    args = parser.parse_args()
    with scratch_database() as (_url, engine):
        job_ids = make_jobs(engine, args.jobs)
        per_job = args.points // args.jobs
        # Each method writes fresh steps so none of them is measuring a pure-duplicate path.
        baseline = timed(
            engine,
            "row-by-row ORM (add + flush)",
            make_points(job_ids[:50], args.orm_sample, 10_000_000),
            orm_row_by_row,
        )
        many = timed(
            engine, "executemany (insertmanyvalues)", make_points(job_ids, args.points, 0), executemany_insert
        )
        pipelined = timed(
            engine,
            "psycopg executemany (pipeline mode)",
            make_points(job_ids, args.points, 20_000_000),
            psycopg_executemany,
        )
        fresh = make_points(job_ids, args.points, per_job)
        bulk = timed(engine, "insert_points (COPY + INSERT..SELECT)", fresh, insert_points)
        again = timed(engine, "insert_points, same points again (dedup)", fresh, insert_points)
        with engine.connect() as connection:
            stored = connection.scalar(select(func.count()).select_from(MetricPoint))
            size = connection.scalar(
                text("select pg_size_pretty(pg_total_relation_size('lora_metrics_points'))")
            )
        print(f"\nstored {stored:,} points ({size}); duplicates skipped on re-ingest")
        print(
            f"insert_points vs row-by-row ORM: {bulk / baseline:,.1f}x; vs insertmanyvalues: {bulk / many:,.1f}x; "
            f"vs psycopg pipeline executemany: {bulk / pipelined:,.1f}x"
        )
        print(
            f"target >= 50,000 points/s: {'MET' if bulk >= 50_000 else 'MISSED'} ({bulk:,.0f}); dedup pass {again:,.0f}/s"
        )


if __name__ == "__main__":
    main()
