"""When the processor stops a job for its budget: pure, so checked without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from jobs.budgets import budget_stop_due, budget_stop_reason
from services.ingest import JobSnapshot
from tests.factories import job_snapshot

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
H100 = {"type": "H100", "count": 1}  # $4.20/h: $0.07 a minute


def running(budget: str | None, ran: timedelta, **overrides: object) -> JobSnapshot:
    budget_limit = None if budget is None else Decimal(budget)
    values = {"total_steps": 100, "started_at": NOW - ran, "gpu_config": H100, "budget_limit": budget_limit}
    return job_snapshot(NOW, **{**values, **overrides})


@pytest.mark.parametrize(
    ("ran_seconds", "due"),
    [
        (0, False),
        (569, False),  # $0.6638 by the next cycle (30 s on): within $0.70
        (570, False),  # $0.70 exactly by the next cycle: reaching the budget is within it
        (571, True),  # would pass $0.70 before the next cycle: stop now, at $0.6662
        (600, True),  # already at the budget (a late cycle)
        (3600, True),  # far past it: still stopped (and billed the budget, see test_costs)
    ],
)
def test_a_job_stops_when_the_next_cycle_would_find_it_past_its_budget(ran_seconds: int, due: bool) -> None:
    job = running("0.70", timedelta(seconds=ran_seconds))
    assert budget_stop_due(job, NOW, horizon_seconds=30) is due


def test_the_horizon_is_the_cycle_interval() -> None:
    job = running("0.70", timedelta(seconds=500))  # $0.5833 now, budget runs out at 600 s
    assert not budget_stop_due(job, NOW, horizon_seconds=30)
    assert budget_stop_due(job, NOW, horizon_seconds=120)


@pytest.mark.parametrize(
    "job",
    [
        running(None, timedelta(hours=10)),  # no budget: never
        running("0.01", timedelta(hours=1), started_at=None),  # never started: nothing accrued
        running("0.01", timedelta(hours=1), gpu_config={"type": "TPU", "count": 1}),  # unpriceable
        running("0.01", timedelta(hours=1), status="cancelled"),  # already ended
    ],
)
def test_jobs_that_cannot_be_over_budget_are_never_stopped(job: JobSnapshot) -> None:
    assert not budget_stop_due(job, NOW, horizon_seconds=30)


def test_budget_is_exceeded_only_past_it() -> None:
    # H100 × 1, $4.20/h, budget $0.07: reached at exactly 60 s. No look-ahead: the cost at `now`.
    def due(seconds: int) -> bool:
        return budget_stop_due(running("0.07", timedelta(seconds=seconds)), NOW, horizon_seconds=0)

    assert not due(59)
    assert not due(60)  # reaching it is within
    assert due(61)


def test_the_stop_reason_names_the_budget_in_dollars_and_cents() -> None:
    assert budget_stop_reason(Decimal("50.0000")) == "Stopped: budget limit $50.00 reached"
    assert budget_stop_reason(Decimal("1234.5")) == "Stopped: budget limit $1,234.50 reached"
