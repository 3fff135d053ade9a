"""Rollups of a job's metric points, kept by the ingest path in the transaction that stores them.

One row per (job, width, bucket = step // width) at each of `WIDTHS`, holding exactly what a
`BucketSummary` bucket holds. New points are summarised per batch and merged into the stored rows
by `INSERT ... ON CONFLICT DO UPDATE` (counts add, extremes keep the smaller/larger value with the
earlier step on ties, first/last keep the earlier/later step), so two writers on one job merge
correctly. PostgreSQL summarises in SQL, in the statement that inserts the points (only the rows
it really inserted, via RETURNING); SQLite folds the inserted rows in Python. Column names come
from the catalogue and are checked identifiers; values only travel as parameters
(docs/architecture.md §6, §8).
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from functools import cache
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection, Uuid, bindparam, text
from sqlalchemy.orm import Session

from catalog.metrics import api_series_names
from db.models import MetricRollup

# Bucket widths in steps, finest first: ratio 8, so a read needs at most 8x the buckets it shows
# (measured against ratio 4 and 16 in docs/architecture.md §8).
WIDTHS: tuple[int, ...] = (8, 64, 512, 4096, 32768)
ROW_COLUMNS = ("n", "first_step", "first_ts", "last_step", "last_ts")
SERIES_SUFFIXES = ("n", "min", "min_step", "max", "max_step")
_TABLE = MetricRollup.__tablename__
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")


def rollup_series() -> tuple[str, ...]:
    """The series a rollup keeps: the API's (those a chart can show), in catalogue order."""
    return api_series_names()


def series_columns(name: str) -> tuple[str, ...]:
    """A series' five rollup columns: count, min value and its step, max value and its step."""
    return tuple(f"{name}_{suffix}" for suffix in SERIES_SUFFIXES)


def columns(names: Sequence[str]) -> tuple[str, ...]:
    """Every column of a rollup row, in order: key, row columns, then each series' five."""
    return ("job_id", "width", "bucket", *ROW_COLUMNS, *(c for name in names for c in series_columns(name)))


def _checked(names: Sequence[str]) -> None:
    if not all(_IDENTIFIER.fullmatch(name) for name in names):
        raise ValueError(f"metric columns must be lower-case identifiers: {names!r}")


def _earlier(column: str, step: str, newer: bool) -> str:
    """`column` of whichever of the stored and the new row has the earlier (or later) `step`."""
    op = ">" if newer else "<"
    return (
        f"{column} = CASE WHEN excluded.{step} {op} {_TABLE}.{step} "
        f"THEN excluded.{column} ELSE {_TABLE}.{column} END"
    )


def _extreme(value: str, step: str, smaller: bool) -> list[str]:
    op = "<" if smaller else ">"
    better = (
        f"(excluded.{value} IS NOT NULL AND ({_TABLE}.{value} IS NULL OR excluded.{value} {op} {_TABLE}.{value}"
        f" OR (excluded.{value} = {_TABLE}.{value} AND excluded.{step} < {_TABLE}.{step})))"
    )
    return [
        f"{column} = CASE WHEN {better} THEN excluded.{column} ELSE {_TABLE}.{column} END"
        for column in (value, step)
    ]


@cache
def merge_clause(names: tuple[str, ...]) -> str:
    """`ON CONFLICT ... DO UPDATE SET ...`: one stored bucket and one new bucket become their union.

    Every SET expression reads the stored row as it was, on PostgreSQL and SQLite alike.
    """
    _checked(names)
    sets = ["n = lora_metrics_rollups.n + excluded.n"]
    sets += [_earlier("first_ts", "first_step", False), _earlier("first_step", "first_step", False)]
    sets += [_earlier("last_ts", "last_step", True), _earlier("last_step", "last_step", True)]
    for name in names:
        count, low, low_step, high, high_step = series_columns(name)
        sets.append(f"{count} = {_TABLE}.{count} + excluded.{count}")
        sets += _extreme(low, low_step, True) + _extreme(high, high_step, False)
    return f"ON CONFLICT (job_id, width, bucket) DO UPDATE SET {', '.join(sets)}"


@cache
def summarize_sql(names: tuple[str, ...], source: str) -> str:
    """CTEs ending in `rolled`: rollup rows (in `columns()` order) for every width, from the points
    of `source` (a CTE or table with job_id, step, timestamp and the series). PostgreSQL only.

    The finest width is grouped from the points with plain count/min/max, then one join back to
    the points finds the earliest step holding each extreme and the first/last timestamps (cheaper
    than an array aggregate per point). Each coarser width is grouped from the one below it (64
    from 8, 512 from 64, ...: each a hash over fewer rows; all widths from the finest at once meant
    sorting 4x the finest rows, which spilled to disk for a cycle's sparse points):
    `min(ARRAY[value, step])` picks a minimum and its earliest step in one aggregate; a series
    without values carries ±Infinity and is dropped by its count of 0.
    """
    _checked(names)
    fine = WIDTHS[0]
    stamp = "date_part('epoch', p.timestamp)"  # float8; extract() gives numeric, several times slower
    plain = ["count(*)::int AS n", "min(step) AS f", "max(step) AS l"]
    found = [
        f"ARRAY[min(g.f)::float8, min({stamp}) FILTER (WHERE p.step = g.f)] AS fs",
        f"ARRAY[min(g.l)::float8, min({stamp}) FILTER (WHERE p.step = g.l)] AS ls",
    ]
    merge_cols = ["min(fs) AS fs", "max(ls) AS ls"]
    out = ["n", "fs[1]::int", "fs[2]", "ls[1]::int", "ls[2]"]
    for i, name in enumerate(names):
        plain += [f"count({name})::int AS c{i}", f"min({name}) AS mn{i}", f"max({name}) AS mx{i}"]
        found += [
            f"min(g.c{i}) AS c{i}",
            f"ARRAY[coalesce(min(g.mn{i}), 'Infinity'), coalesce(min(p.step) FILTER (WHERE p.{name} = g.mn{i}), 0)]"
            f" AS lo{i}",
            f"ARRAY[coalesce(min(g.mx{i}), '-Infinity'), -coalesce(min(p.step) FILTER (WHERE p.{name} = g.mx{i}), 0)]"
            f" AS hi{i}",
        ]
        merge_cols += [f"sum(c{i})::int AS c{i}", f"min(lo{i}) AS lo{i}", f"max(hi{i}) AS hi{i}"]
        out += [
            f"c{i}",
            f"CASE WHEN c{i} > 0 THEN lo{i}[1] END",
            f"CASE WHEN c{i} > 0 THEN lo{i}[2]::int END",
            f"CASE WHEN c{i} > 0 THEN hi{i}[1] END",
            f"CASE WHEN c{i} > 0 THEN (-hi{i}[2])::int END",
        ]
    levels = [f"w{fine}"]
    coarser = []
    for finer, width in pairwise(WIDTHS):
        coarser.append(
            f"w{width} AS (SELECT job_id, bucket * {finer} / {width} AS bucket, sum(n)::int AS n, "  # noqa: S608
            f"{', '.join(merge_cols)} FROM w{finer} GROUP BY 1, 2)"
        )
        levels.append(f"w{width}")
    rolled = " UNION ALL ".join(
        f"SELECT job_id, {level[1:]} AS width, bucket, {', '.join(out)} FROM {level}"  # noqa: S608
        for level in levels
    )
    return (  # identifiers and integer constants only, checked above
        f"grouped AS (SELECT job_id, step / {fine} AS bucket, {', '.join(plain)} "  # noqa: S608
        f"FROM {source} GROUP BY 1, 2), "
        f"w{fine} AS (SELECT g.job_id, g.bucket, min(g.n) AS n, {', '.join(found)} FROM grouped AS g "
        f"JOIN {source} AS p ON p.job_id = g.job_id AND p.step / {fine} = g.bucket GROUP BY 1, 2), "
        f"{', '.join(coarser)}, rolled AS ({rolled}) "
    )


@cache
def upsert_sql(names: tuple[str, ...]) -> str:
    """`INSERT INTO lora_metrics_rollups ... SELECT ... FROM rolled ... ON CONFLICT DO UPDATE`.

    Rows go in key order, so two writers lock shared buckets in the same order (no deadlock)."""
    return (
        f"INSERT INTO {_TABLE} ({', '.join(columns(names))}) SELECT * FROM rolled "  # noqa: S608
        f"ORDER BY job_id, width, bucket {merge_clause(names)}"
    )


# Every statement that rolls points up runs with these (SET LOCAL: this transaction only). No JIT: the
# row estimate makes PostgreSQL compile the statement, 0.5 s of LLVM per batch. No nested loop: the
# join back from buckets to their points must hash; points just copied in are not yet analysed,
# and on an estimate of a few rows the planner chose a nested loop over the materialised points,
# quadratic in a job's length (minutes for a 100k-point rebuild). Room for the grouping in memory:
# the default 4 MB spills a 20k-point batch to disk.
PLAN_SETTINGS = "SET LOCAL jit = off; SET LOCAL enable_nestloop = off; SET LOCAL work_mem = '32MB'"


def rebuild_sql(names: tuple[str, ...], *, one_range: bool = False) -> str:
    """Rollups from the stored points, merged into the stored rollups (PostgreSQL only): every
    point (the migration's backfill), or with `one_range` those of job `:job_id` with steps
    `:first_step` to `:last_step` (bulk seeding, which stores points without the ingest path)."""
    _checked(names)
    where = "WHERE job_id = :job_id AND step BETWEEN :first_step AND :last_step" if one_range else ""
    source = (
        f"source AS (SELECT job_id, step, timestamp, {', '.join(names)} FROM lora_metrics_points {where})"  # noqa: S608
    )
    return f"WITH {source}, {summarize_sql(names, 'source')}{upsert_sql(names)}"


def rebuild_rollups(
    connection: Connection,
    names: tuple[str, ...],
    *,
    job_id: uuid.UUID | None = None,
    first_step: int = 0,
    last_step: int = 2**31 - 1,
) -> None:
    """Merge rollups of stored points into the stored rollups (PostgreSQL), under PLAN_SETTINGS:
    every point, or those of `job_id` with steps `first_step` to `last_step`."""
    connection.exec_driver_sql(PLAN_SETTINGS)
    if job_id is None:
        connection.execute(text(rebuild_sql(names)))
        return
    bounds = {"job_id": job_id, "first_step": first_step, "last_step": last_step}
    connection.execute(text(rebuild_sql(names, one_range=True)), bounds)


@cache
def _level_sql(names: tuple[str, ...], placeholders: tuple[str, str]) -> str:
    _checked(names)
    selected = ", ".join(columns(names)[2:])  # a row without its key's job and width
    job, width = placeholders
    return f"SELECT {selected} FROM {_TABLE} WHERE job_id = {job} AND width = {width} ORDER BY bucket"  # noqa: S608


def level_columns(
    session: Session, job_id: uuid.UUID, width: int, names: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    """A job's rollup rows at one width, column by column (bucket, the row columns, then each
    series' five), in bucket order; [] when it has none. PostgreSQL sends them in binary: the ~70k
    numbers of a 1M-point job's level cost half the CPU that parsing them from text and building
    rows does (docs/performance.md, "Metric reads")."""
    if session.get_bind().dialect.name == "postgresql":
        driver = session.connection().connection.driver_connection
        assert driver is not None
        with driver.cursor(binary=True) as cursor:  # the session's own connection and transaction
            cursor.execute(_level_sql(names, ("%(job_id)s", "%(width)s")), {"job_id": job_id, "width": width})
            rows: Sequence[Sequence[Any]] = cursor.fetchall()
    else:
        statement = text(_level_sql(names, (":job_id", ":width"))).bindparams(
            bindparam("job_id", type_=Uuid())
        )
        rows = session.execute(statement, {"job_id": job_id, "width": width}).all()
    return list(zip(*rows, strict=True)) if rows else []


# --- SQLite (and any dialect without array aggregates): the same rows, folded in Python ----------


def python_rollups(points: Sequence[Sequence[Any]], names: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rollup rows (in `columns()` order) of `(job_id, step, epoch_seconds, *values)` points, one
    row per (job, width, bucket), values as `summarize_sql` computes them."""
    by_job: dict[uuid.UUID, list[Sequence[Any]]] = defaultdict(list)
    for point in points:
        by_job[point[0]].append(point)
    rows: list[tuple[Any, ...]] = []
    for job_id, job_points in by_job.items():
        job_points.sort(key=lambda p: p[1])
        for width in WIDTHS:
            rows.extend(_fold(job_id, width, job_points, len(names)))
    return rows


def _fold(
    job_id: uuid.UUID, width: int, points: list[Sequence[Any]], n_series: int
) -> Iterator[tuple[Any, ...]]:
    bucket: list[Any] = []
    for point in points:
        step, stamp = int(point[1]), float(point[2])
        index = step // width
        if not bucket or bucket[2] != index:
            if bucket:
                yield tuple(bucket)
            empty: list[Any] = [0, None, None, None, None]
            bucket = [job_id, width, index, 0, step, stamp, step, stamp, *empty * n_series]
        bucket[3] += 1
        bucket[6], bucket[7] = step, stamp
        for s in range(n_series):
            value = point[3 + s]
            if value is None:
                continue
            at = 8 + 5 * s
            bucket[at] += 1
            if bucket[at + 1] is None or value < bucket[at + 1]:
                bucket[at + 1], bucket[at + 2] = value, step
            if bucket[at + 3] is None or value > bucket[at + 3]:
                bucket[at + 3], bucket[at + 4] = value, step
    if bucket:
        yield tuple(bucket)


def upsert_python_rollups(session: Session, rows: Sequence[tuple[Any, ...]], names: tuple[str, ...]) -> None:
    """Merge rollup rows into the table with one executemany (any dialect)."""
    if not rows:
        return
    names_sql = columns(names)
    statement = text(
        f"INSERT INTO {_TABLE} ({', '.join(names_sql)}) VALUES ({', '.join(':' + c for c in names_sql)}) "  # noqa: S608
        f"{merge_clause(names)}"
    ).bindparams(bindparam("job_id", type_=Uuid()))
    session.execute(statement, [dict(zip(names_sql, row, strict=True)) for row in rows])
