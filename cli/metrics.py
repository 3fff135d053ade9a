"""`lora-pipeline metrics prune`: drop the raw points of long-finished jobs (services/retention.py).

Charts of pruned jobs are drawn from their rollups; CSV export and `since_step` read raw points,
so they return nothing for a pruned job. Exit codes: 0 done (or nothing to do), 1 declined at the
prompt, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from settings import Settings

MAX_DAYS = 36_500  # a hundred years; far beyond it the cutoff date would not exist


def positive_days(text: str) -> float:
    """argparse type: a finite number of days above zero."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not math.isfinite(days) or days <= 0:
        raise argparse.ArgumentTypeError(f"the number of days must be above zero, got {text!r}")
    if days > MAX_DAYS:
        raise argparse.ArgumentTypeError(f"the number of days must be at most {MAX_DAYS:,}, got {text!r}")
    return days


def positive_rows(text: str) -> int:
    """argparse type: a whole number of rows, at least 1."""
    try:
        rows = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of rows, got {text!r}") from None
    if rows < 1:
        raise argparse.ArgumentTypeError(f"the batch size must be at least 1, got {text!r}")
    return rows


def _confirmed(jobs: int, points: int, days: float) -> bool:
    print(f"This deletes {points:,} raw points of {jobs:,} jobs that ended more than {days:g} days ago.")
    print("Delete them? [y/N] ", end="", flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def cmd_metrics_prune(args: argparse.Namespace) -> int:
    from db.session import make_engine, make_session_factory
    from services.retention import plan_prune, prune_raw_points

    settings = (
        args.embedded_settings(args.data_dir) if args.data_dir else Settings.from_env(require_secrets=False)
    )
    factory = make_session_factory(make_engine(settings.database_url))
    older_than = timedelta(days=args.older_than)
    if not args.dry_run and not args.yes:
        with factory.begin() as session:
            plan = plan_prune(session, older_than)
        if not plan.points_by_job:
            print(f"nothing to prune: no finished job older than {args.older_than:g} days has raw points")
            return 0
        if not _confirmed(len(plan.points_by_job), plan.points, args.older_than):
            print("nothing deleted", file=sys.stderr)
            return 1
    result = prune_raw_points(factory.begin, older_than, dry_run=args.dry_run, batch_rows=args.batch_size)
    for job_id, count in sorted(result.points_by_job.items(), key=lambda item: str(item[0])):
        print(f"{job_id}\t{count}")
    verb = "would delete" if result.dry_run else "deleted"
    print(
        f"{verb} {result.points:,} raw points of {result.jobs:,} jobs that ended before "
        f"{result.cutoff.isoformat(timespec='seconds')} in {result.seconds:.1f} s"
        + (" (dry run: nothing deleted)" if result.dry_run else f" ({result.batches} batches)")
    )
    return 0


def register(sub: Any, embedded_settings: Callable[[str], Settings]) -> None:
    """Add `metrics prune` to the top-level subcommands; `embedded_settings` resolves --data-dir."""
    metrics = sub.add_parser("metrics", help="Metric points: retention.")
    metrics_sub = metrics.add_subparsers(dest="metrics_command", required=True)
    prune = metrics_sub.add_parser(
        "prune",
        help="Delete raw metric points of jobs that finished more than DAYS ago (charts keep their rollups).",
    )
    prune.add_argument("--older-than", type=positive_days, required=True, metavar="DAYS")
    prune.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    prune.add_argument("--yes", action="store_true", help="do not ask before deleting")
    prune.add_argument("--batch-size", type=positive_rows, default=10_000, help="rows per transaction")
    prune.add_argument("--data-dir", default=None, help="use the embedded database in this folder")
    prune.set_defaults(handler=cmd_metrics_prune, embedded_settings=embedded_settings)
