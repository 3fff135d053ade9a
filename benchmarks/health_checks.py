"""Cost of the run-health checks in the ingest path: `check_health` for many jobs' new points.

    .venv/bin/python -m benchmarks.health_checks [--jobs 1000] [--points 50]

Times one `check_health` call (one SELECT of settings and state, the pure evaluation, one bulk
UPDATE of the states) for `--jobs` running jobs with `--points` new points each, as one poll cycle
of that many jobs would, next to `insert_points` for the same rows (what ingestion already paid).
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import defaultdict

from benchmarks.ingest_rate import make_jobs, make_points
from benchmarks.scratch_db import scratch_database
from db.base import utcnow
from db.metric_store import PointRow, insert_points
from db.session import make_session_factory
from services.run_health import check_health


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--points", type=int, default=50, help="new points per job")
    args = parser.parse_args()
    with scratch_database() as (_url, engine):
        sessions = make_session_factory(engine)
        job_ids = make_jobs(engine, args.jobs)
        for round_number in range(3):  # the first fills the states; later rounds update them
            rows = make_points(job_ids, args.jobs * args.points, first_step=1 + round_number * args.points)
            by_job: dict[uuid.UUID, list[PointRow]] = defaultdict(list)
            for row in rows:
                by_job[row[0]].append(row)
            with sessions.begin() as session:
                started = time.perf_counter()
                insert_points(session, rows)
                inserted = time.perf_counter() - started
                started = time.perf_counter()
                fired = check_health(
                    session,
                    [(job_id, points, (), points[-1][3]) for job_id, points in by_job.items()],
                    source="poll",
                    now=utcnow(),
                )
                checked = time.perf_counter() - started
            print(
                f"round {round_number + 1}: {len(rows):,} points of {args.jobs:,} jobs: "
                f"insert_points {inserted * 1000:.0f} ms, check_health {checked * 1000:.0f} ms "
                f"({len(rows) / checked:,.0f} points/s), {len(fired)} fired"
            )


if __name__ == "__main__":
    main()
