"""What of a cluster's report we believe: steps near the job's length, times near our own clock.

contract/parsing.py checks each value on its own (type, range); this module checks a value against
the job: a step far past `total_steps`, a metric point stamped decades away, a billed start before
we submitted or a finish after now. Refused values leave a note, never an error: the rest of the
report still counts (docs/architecture.md §6 and §9).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from contract.parsing import MAX_STEPS
from contract.results import MetricsPoint

# A trainer may log a little past its planned length (a partial last batch, a revised estimate);
# twice the length plus this margin is not a real run any more.
STEP_MARGIN = 100


def plausible_step_limit(total_steps: int | None) -> int:
    """The highest step believed for a job of `total_steps` (unknown or 0: the contract's maximum)."""
    if not total_steps or total_steps <= 0:
        return MAX_STEPS
    return min(MAX_STEPS, 2 * total_steps + STEP_MARGIN)


def plausible_points(
    points: tuple[MetricsPoint, ...],
    *,
    step_limit: int,
    earliest: datetime | None,
    latest: datetime,
    notes: list[str],
) -> tuple[MetricsPoint, ...]:
    """`points` without those past `step_limit` (refused, with one note); a timestamp outside
    [earliest, latest] is dropped (the point is then stamped with our clock), with one note."""
    kept = [point for point in points if point.step <= step_limit]
    if len(kept) < len(points):
        notes.append(f"metrics_history: refused {len(points) - len(kept)} points past step {step_limit}")
    outside = 0
    for index, point in enumerate(kept):
        stamp = point.timestamp
        if stamp is not None and (stamp > latest or (earliest is not None and stamp < earliest)):
            kept[index] = replace(point, timestamp=None)
            outside += 1
    if outside:
        notes.append(f"metrics_history: replaced {outside} timestamps far from our clock")
    return tuple(kept)


@dataclass(frozen=True)
class BilledWindow:
    """The start and end a finished job is billed for, and what was corrected to get them."""

    started_at: datetime | None
    finished_at: datetime
    corrections: dict[str, Any]


def billed_window(
    *,
    submitted_at: datetime | None,
    our_start: datetime | None,
    reported_start: datetime | None,
    reported_finish: datetime | None,
    now: datetime,
    clock_skew: timedelta,
) -> BilledWindow:
    """Clamp the cluster's times: the start never before we submitted the job, the finish never
    after `now + clock_skew` (past that it is `now`) and never before the start.

    The cluster's start counts only when it reports a finish too (its own clock at both ends);
    otherwise the job is billed from `our_start`. `corrections` is empty when nothing changed.
    """
    corrections: dict[str, Any] = {}
    start = our_start
    if reported_start is not None and reported_finish is not None:
        start = reported_start
        if submitted_at is not None and reported_start < submitted_at:
            start = submitted_at
            corrections["started_at"] = {"reported": reported_start.isoformat(), "billed": start.isoformat()}
    finish = reported_finish or now
    if finish > now + clock_skew:
        corrections["finished_at"] = {"reported": finish.isoformat(), "billed": now.isoformat()}
        finish = now
    if start is not None and finish < start:
        reported = (reported_finish or now).isoformat()
        corrections["finished_at"] = {"reported": reported, "billed": start.isoformat()}
        finish = start
    return BilledWindow(started_at=start, finished_at=finish, corrections=corrections)
