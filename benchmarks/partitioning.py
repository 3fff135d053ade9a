"""lora_metrics_points unpartitioned vs PostgreSQL declarative partitioning, on a scratch database.

Four shapes of the same columns (db/models.py: MetricPoint), each filled with the same jobs:

- `plain`: the product's table today (id primary key, unique (job_id, step)): the baseline;
- `hash_job`: PARTITION BY HASH (job_id), 8 partitions; unique (job_id, step) still holds;
- `range_time`: PARTITION BY RANGE (timestamp), one partition a month; a unique constraint must
  include the partition key, so (job_id, step) is no longer unique (only (job_id, step, timestamp));
- `range_job`: PARTITION BY RANGE (job_id) with time-ordered (UUIDv7) job ids, one partition per
  month of job creation; unique (job_id, step) holds and a month of old jobs is one partition.

For each: the bulk fill, ingest through the product's path (COPY into a staging table, then
INSERT ... ON CONFLICT DO NOTHING) beside a raw COPY, the newest 100 points of one job
(`since_step`), a full read of one job, the table's size, and dropping the oldest month (DELETE
then VACUUM vs DETACH + DROP PARTITION) with the WAL each writes.

Run: `.venv/bin/python -m benchmarks.partitioning` (5M rows; `--rows 1000000` for a quick look).
`--retention` times `lora-pipeline metrics prune` on the product's schema instead: the points of
finished jobs (a tenth of --rows) deleted in 10,000-row transactions, against one DELETE of as many.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy import text as sql_text

from benchmarks.scratch_db import scratch_database

COLUMNS = (
    "job_id, timestamp, epoch, step, training_loss, validation_loss, learning_rate, "
    "gradient_norm, throughput, gpu_utilization"
)
BODY = """
    id bigserial,
    job_id uuid NOT NULL REFERENCES bench_jobs(id) ON DELETE CASCADE,
    timestamp timestamptz NOT NULL,
    epoch float8, step integer NOT NULL,
    training_loss float8, validation_loss float8, learning_rate float8,
    gradient_norm float8, throughput float8, gpu_utilization float8
"""
FIRST_MONTH = datetime(2026, 6, 1, tzinfo=UTC)
MONTHS = 7  # the filled jobs start over six months; the seventh holds what the ingest test adds
HASH_PARTITIONS = 8


def month_start(index: int) -> datetime:
    year, month = divmod(FIRST_MONTH.month - 1 + index, 12)
    return FIRST_MONTH.replace(year=FIRST_MONTH.year + year, month=month + 1)


def uuid7(at: datetime, rng: random.Random) -> uuid.UUID:
    """A UUIDv7: 48 bits of Unix milliseconds first, so ids sort by creation time."""
    millis = int(at.timestamp() * 1000)
    value = (millis << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62) | rng.getrandbits(62)
    return uuid.UUID(int=value)


def month_bound(index: int) -> str:
    return str(uuid.UUID(int=int(month_start(index).timestamp() * 1000) << 80))


def schema(shape: str) -> list[str]:
    """DDL for one shape, named `points`."""
    if shape == "plain":
        return [f"CREATE TABLE points ({BODY}, PRIMARY KEY (id), UNIQUE (job_id, step))"]
    if shape == "hash_job":
        ddl = [
            f"CREATE TABLE points ({BODY}, PRIMARY KEY (id, job_id), UNIQUE (job_id, step))"
            " PARTITION BY HASH (job_id)"
        ]
        return ddl + [
            f"CREATE TABLE points_h{i} PARTITION OF points FOR VALUES WITH (MODULUS {HASH_PARTITIONS}, REMAINDER {i})"
            for i in range(HASH_PARTITIONS)
        ]
    if shape == "range_time":
        ddl = [
            f"CREATE TABLE points ({BODY}, PRIMARY KEY (id, timestamp), UNIQUE (job_id, step, timestamp))"
            " PARTITION BY RANGE (timestamp)"
        ]
        return ddl + [
            f"CREATE TABLE points_m{i} PARTITION OF points FOR VALUES FROM ('{month_start(i).isoformat()}')"
            f" TO ('{month_start(i + 1).isoformat()}')"
            for i in range(MONTHS + 1)
        ]
    if shape == "range_job":
        ddl = [
            f"CREATE TABLE points ({BODY}, PRIMARY KEY (id, job_id), UNIQUE (job_id, step))"
            " PARTITION BY RANGE (job_id)"
        ]
        return ddl + [
            f"CREATE TABLE points_m{i} PARTITION OF points FOR VALUES FROM ('{month_bound(i)}')"
            f" TO ('{month_bound(i + 1)}')"
            for i in range(MONTHS + 1)
        ]
    raise ValueError(shape)


CONFLICT = {"range_time": "(job_id, step, timestamp)"}
SHAPES = ("plain", "hash_job", "range_time", "range_job")


@dataclass
class Jobs:
    filled: list[tuple[uuid.UUID, datetime]]
    ingested: list[tuple[uuid.UUID, datetime]]
    raw: list[tuple[uuid.UUID, datetime]]


def make_jobs(filled: int, extra: int) -> Jobs:
    """`filled` jobs spread over six months, and two sets of `extra` jobs in the seventh month."""
    rng = random.Random(11)
    span = month_start(MONTHS - 1) - FIRST_MONTH
    fill = [FIRST_MONTH + span * (k / filled) for k in range(filled)]
    late = [month_start(MONTHS - 1) + timedelta(hours=k) for k in range(2 * extra)]
    pairs = [(uuid7(at, rng), at) for at in fill + late]
    return Jobs(pairs[:filled], pairs[filled : filled + extra], pairs[filled + extra :])


def copy_text(jobs: list[tuple[uuid.UUID, datetime]], points: int) -> bytes:
    """COPY text for `points` steps of each job, one point a second from the job's start."""
    rng = random.Random(3)
    out = io.StringIO()
    for job_id, start in jobs:
        for step in range(1, points + 1):
            loss = 2.5 * math.exp(-3 * step / points) + 0.2 + rng.random() * 0.05
            validation = f"{loss + 0.05:.6f}" if step % 50 == 0 else "\\N"
            stamp = (start + timedelta(seconds=step)).isoformat()
            out.write(
                f"{job_id}\t{stamp}\t{3 * step / points:.5f}\t{step}\t{loss:.6f}\t{validation}\t"
                f"0.0002\t{1 + rng.random():.5f}\t{3000 + rng.random() * 200:.2f}\t{90 + rng.random() * 8:.2f}\n"
            )
    return out.getvalue().encode()


FILL = """
INSERT INTO points (job_id, timestamp, epoch, step, training_loss, validation_loss, learning_rate,
                    gradient_norm, throughput, gpu_utilization)
SELECT j.id, j.started_at + s * interval '1 second', 3.0 * s / %(points)s, s,
       2.5 * exp(-3.0 * s / %(points)s) + 0.2 + random() * 0.05,
       CASE WHEN s %% 50 = 0 THEN 2.0 END, 0.0002, 1 + random(), 3000 + random() * 200, 90 + random() * 8
FROM bench_jobs j CROSS JOIN generate_series(1, %(points)s) s
WHERE j.kind = 'filled' AND j.n >= %(first)s AND j.n < %(last)s
"""


class Bench:
    """One shape's measurements on its own scratch database."""

    def __init__(self, engine: Engine, shape: str, jobs: Jobs, points: int) -> None:
        self.engine, self.shape, self.jobs, self.points = engine, shape, jobs, points
        self.raw: Any = engine.raw_connection()
        self.conn: Any = self.raw.driver_connection
        assert self.conn is not None
        self.conn.autocommit = True

    def sql(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def wal(self) -> int:
        return int(self.sql("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0])

    def setup(self) -> None:
        self.sql("CREATE TABLE bench_jobs (id uuid PRIMARY KEY, started_at timestamptz, kind text, n int)")
        rows = [(j, at, "filled", n) for n, (j, at) in enumerate(self.jobs.filled)]
        rows += [(j, at, "ingested", n) for n, (j, at) in enumerate(self.jobs.ingested)]
        rows += [(j, at, "raw", n) for n, (j, at) in enumerate(self.jobs.raw)]
        with self.conn.cursor() as cursor, cursor.copy("COPY bench_jobs FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        for ddl in schema(self.shape):
            self.sql(ddl)

    def fill(self) -> float:
        started, step = time.perf_counter(), 50
        for first in range(0, len(self.jobs.filled), step):
            params = {"points": self.points, "first": first, "last": first + step}
            self.sql(FILL, params)
        elapsed = time.perf_counter() - started
        self.sql("VACUUM ANALYZE points")
        return elapsed

    def ingest(self, data: bytes, chunk_rows: int) -> float:
        """Seconds for the product's path: COPY into a staging table, INSERT ... ON CONFLICT."""
        conflict = CONFLICT.get(self.shape, "(job_id, step)")
        self.sql("CREATE TEMP TABLE stage (LIKE points INCLUDING DEFAULTS)")
        merge = sql.SQL(
            "INSERT INTO points ({cols}) SELECT {cols} FROM stage ON CONFLICT {target} DO NOTHING"
        )
        statement = merge.format(cols=sql.SQL(COLUMNS), target=sql.SQL(conflict))
        lines = data.splitlines(keepends=True)
        started = time.perf_counter()
        for first in range(0, len(lines), chunk_rows):
            with self.conn.transaction(), self.conn.cursor() as cursor:
                with cursor.copy(f"COPY stage ({COLUMNS}) FROM STDIN") as copy:
                    copy.write(b"".join(lines[first : first + chunk_rows]))
                cursor.execute(statement)
                cursor.execute("TRUNCATE stage")
        return time.perf_counter() - started

    def raw_copy(self, data: bytes) -> float:
        started = time.perf_counter()
        with (
            self.conn.transaction(),
            self.conn.cursor() as cursor,
            cursor.copy(f"COPY points ({COLUMNS}) FROM STDIN") as copy,
        ):
            copy.write(data)
        return time.perf_counter() - started

    def timed(self, statement: str, params: list[Any], fetch_rows: int) -> tuple[float, float]:
        """p50 and p95 in ms over `params`, after one warm-up."""
        times = []
        with self.conn.cursor() as cursor:
            cursor.execute(statement, params[0])
            cursor.fetchall()
            for p in params:
                started = time.perf_counter()
                cursor.execute(statement, p)
                got = cursor.fetchall()
                times.append((time.perf_counter() - started) * 1000)
                assert len(got) == fetch_rows, (len(got), fetch_rows)
        times.sort()
        return statistics.median(times), times[int(len(times) * 0.95) - 1]

    def reads(self, samples: int) -> dict[str, tuple[float, float]]:
        rng = random.Random(5)
        picked = [rng.choice(self.jobs.filled)[0] for _ in range(samples)]
        newest = [(j, self.points - 100) for j in picked]
        whole = [(j,) for j in picked[: max(samples // 4, 10)]]
        return {
            "since_step": self.timed(
                "SELECT step, timestamp, training_loss, validation_loss, learning_rate FROM points"
                " WHERE job_id = %s AND step > %s ORDER BY step",
                newest,
                100,
            ),
            "whole_job": self.timed(
                "SELECT step, epoch, training_loss, validation_loss, learning_rate, gradient_norm,"
                " throughput, gpu_utilization FROM points WHERE job_id = %s ORDER BY step",
                whole,
                self.points,
            ),
        }

    def size_mb(self) -> float:
        query = (
            "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('points')"
            if self.shape != "plain"
            else "SELECT pg_total_relation_size('points')"
        )
        return float(self.sql(query)[0][0]) / 1e6

    def drop_oldest_month(self) -> tuple[float, float, int]:
        """Seconds (drop, then vacuum) and WAL bytes to remove every point of the first month's jobs."""
        wal = self.wal()
        started = time.perf_counter()
        if self.shape.startswith("range"):
            self.sql("ALTER TABLE points DETACH PARTITION points_m0")
            self.sql("DROP TABLE points_m0")
            dropped, vacuum = time.perf_counter() - started, 0.0
        else:
            self.sql(
                "DELETE FROM points WHERE job_id IN (SELECT id FROM bench_jobs WHERE started_at < %s)",
                (month_start(1),),
            )
            dropped = time.perf_counter() - started
            started = time.perf_counter()
            self.sql("VACUUM points")
            vacuum = time.perf_counter() - started
        return dropped, vacuum, self.wal() - wal

    def close(self) -> None:
        self.raw.close()


def run_shape(shape: str, jobs: Jobs, points: int, data: dict[str, bytes], samples: int) -> dict[str, Any]:
    with scratch_database("pipeline_partition") as (_url, engine):
        bench = Bench(engine, shape, jobs, points)
        try:
            bench.setup()
            wal = bench.wal()
            fill = bench.fill()
            fill_wal = bench.wal() - wal
            rows = len(jobs.filled) * points
            ingest = bench.ingest(data["ingested"], chunk_rows=50_000)
            raw = bench.raw_copy(data["raw"])
            bench.sql("ANALYZE points")
            reads = bench.reads(samples)
            size = bench.size_mb()
            dropped, vacuum, drop_wal = bench.drop_oldest_month()
            left = int(bench.sql("SELECT count(*) FROM points")[0][0])
        finally:
            bench.close()
    extra = data["ingested"].count(b"\n")
    return {
        "shape": shape,
        "fill_rows_s": rows / fill,
        "fill_wal_b_row": fill_wal / rows,
        "ingest_rows_s": extra / ingest,
        "raw_copy_rows_s": data["raw"].count(b"\n") / raw,
        "since_p50": reads["since_step"][0],
        "since_p95": reads["since_step"][1],
        "job_p50": reads["whole_job"][0],
        "job_p95": reads["whole_job"][1],
        "size_mb": size,
        "drop_s": dropped,
        "vacuum_s": vacuum,
        "drop_wal_mb": drop_wal / 1e6,
        "rows_left": left,
    }


def retention_run(jobs: int, points: int, batch_rows: int) -> None:
    """`lora-pipeline metrics prune`'s service on the product's schema: batches vs one DELETE."""
    from benchmarks.seed_metrics import copy_metric_points
    from db.base import utcnow
    from db.models import JobStatus
    from db.session import make_session_factory
    from services.accounts import create_user
    from services.retention import prune_raw_points
    from tests.factories import make_dataset, make_job

    with scratch_database("pipeline_retention") as (_url, engine):
        factory = make_session_factory(engine)
        ended = utcnow() - timedelta(days=100)
        with factory.begin() as session:
            owner = create_user(session, "retention@example.com", "correct horse battery").id
            dataset = make_dataset(session, owner)
            ids = [
                make_job(session, owner, dataset.id, status=JobStatus.COMPLETED, completed_at=ended).id
                for _ in range(2 * jobs)
            ]
        for job_id in ids:
            copy_metric_points(engine, job_id, points)
        with factory.begin() as session:
            session.execute(sql_text("ANALYZE lora_metrics_points"))
        first = ids[:jobs]
        started = time.perf_counter()
        with factory.begin() as session:
            session.execute(
                sql_text("DELETE FROM lora_metrics_points WHERE job_id = ANY(:ids)"), {"ids": first}
            )
        one_delete = time.perf_counter() - started
        result = prune_raw_points(factory.begin, timedelta(days=90), batch_rows=batch_rows)
    total = jobs * points
    print(
        f"retention: {total:,} points of {jobs} finished jobs; one DELETE {one_delete:.2f} s "
        f"({total / one_delete:,.0f} points/s, one transaction); metrics prune {result.seconds:.2f} s "
        f"({result.points / result.seconds:,.0f} points/s) in {result.batches} transactions of <= {batch_rows:,} rows "
        f"({result.seconds / result.batches * 1000:.0f} ms each on average); ratio x{result.seconds / one_delete:.2f}"
    )
    assert result.points == total, (result.points, total)  # the other jobs' points went by the DELETE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="points in the filled table")
    parser.add_argument("--points-per-job", type=int, default=10_000)
    parser.add_argument("--ingest-rows", type=int, default=300_000, help="points added by each ingest test")
    parser.add_argument("--samples", type=int, default=200, help="reads timed per query")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument(
        "--retention", action="store_true", help="time `metrics prune` instead (product schema)"
    )
    args = parser.parse_args()
    if args.retention:
        retention_run(
            jobs=max(args.rows // args.points_per_job // 10, 1), points=args.points_per_job, batch_rows=10_000
        )
        return
    points = args.points_per_job
    extra_jobs = max(args.ingest_rows // points, 1)
    jobs = make_jobs(max(args.rows // points, 1), extra_jobs)
    data = {"ingested": copy_text(jobs.ingested, points), "raw": copy_text(jobs.raw, points)}
    print(
        f"{len(jobs.filled) * points:,} points in {len(jobs.filled)} jobs over 6 months; "
        f"ingest {extra_jobs * points:,} points; PostgreSQL at {os.environ.get('PIPELINE_TEST_PG', 'default')}"
    )
    header = (
        f"{'shape':<11} {'fill/s':>9} {'ingest/s':>9} {'rawCOPY/s':>9} {'since p50/p95 ms':>17} "
        f"{'job p50/p95 ms':>15} {'size MB':>8} {'WAL B/row':>9} {'drop month s':>12} {'vacuum s':>8} {'WAL MB':>7}"
    )
    print(header)
    results = []
    for shape in args.shapes.split(","):
        r = run_shape(shape, jobs, points, data, args.samples)
        results.append(r)
        print(
            f"{shape:<11} {r['fill_rows_s']:>9,.0f} {r['ingest_rows_s']:>9,.0f} {r['raw_copy_rows_s']:>9,.0f} "
            f"{r['since_p50']:>8.2f}/{r['since_p95']:<8.2f} {r['job_p50']:>7.1f}/{r['job_p95']:<7.1f} "
            f"{r['size_mb']:>8.0f} {r['fill_wal_b_row']:>9.0f} {r['drop_s']:>12.2f} {r['vacuum_s']:>8.2f} {r['drop_wal_mb']:>7.1f}",
            flush=True,
        )
    base = results[0]
    if base["shape"] == "plain":
        print("ratios to plain (same run): ", end="")
        print(
            "; ".join(
                f"{r['shape']}: ingest x{r['ingest_rows_s'] / base['ingest_rows_s']:.2f}, "
                f"since p95 x{r['since_p95'] / base['since_p95']:.2f}, "
                f"drop x{(base['drop_s'] + base['vacuum_s']) / max(r['drop_s'] + r['vacuum_s'], 1e-6):.0f} faster"
                for r in results[1:]
            )
        )


if __name__ == "__main__":
    main()
