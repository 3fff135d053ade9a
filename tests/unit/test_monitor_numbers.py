"""The monitor's card texts: losses, throughput, spent / estimated / projected cost and the ETA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from components.monitor_numbers import (
    ETA_WINDOW,
    elapsed_seconds,
    is_active,
    job_title,
    monitor_numbers,
    rate_window,
    steps_per_epoch,
)
from services.downsample import empty_metrics_payload

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
RATE = Decimal("7.00")  # 2x A100-80GB


def _job(**overrides: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": "0b7e4f7a-1111-4222-8333-944445555666",
        "name": None,
        "status": "running",
        "progress": 40.0,
        "current_epoch": 1,
        "total_epochs": 3,
        "current_step": 40,
        "total_steps": 100,
        "current_metrics": {
            "training_loss": 0.123456,
            "validation_loss": 0.2,
            "throughput": 12345.6,
            "gpu_utilization": 87.2,
        },
        "estimated_total_cost": "1.2000",
        "current_cost": "0.1000",
        "final_cost": None,
        "started_at": (NOW - timedelta(minutes=6)).isoformat(),
        "completed_at": None,
    }
    job.update(overrides)
    return job


# 10 s per step over the last 20 steps
WINDOW = [[20 + i, 200.0 + 10.0 * i] for i in range(ETA_WINDOW)]


def test_running_job_cards_show_current_values_eta_and_projection() -> None:
    numbers = monitor_numbers(_job(), WINDOW, NOW, hourly_rate=RATE, best_validation=(30, 0.18))
    assert numbers["training_loss_value"] == "0.1235"
    assert numbers["validation_loss_value"] == "0.2"
    assert numbers["validation_loss_detail"] == "best 0.18 @ step 30"
    assert numbers["throughput_value"] == "12,346 tok/s"
    assert numbers["throughput_detail"] == "GPU 87%"
    # spent follows the clock (6 min x $7/h = $0.70) when the stored accrual lags behind it
    assert numbers["cost_value"] == "$0.70"
    # 60 steps left x 10 s = 10 min -> projected 0.70 + 7 x 10/60 = $1.87
    assert numbers["eta_value"] == "10m 00s"
    assert numbers["cost_detail"] == "est. $1.20 · projected $1.87"
    assert numbers["eta_detail"].startswith("10.00 s/step")


def test_a_budget_caps_what_is_shown_spent_and_says_where_the_job_stops() -> None:
    # projected $1.87 passes a $1.50 budget: the job is stopped there
    numbers = monitor_numbers(_job(budget_limit="1.5000"), WINDOW, NOW, hourly_rate=RATE)
    assert numbers["cost_value"] == "$0.70"
    assert numbers["cost_detail"] == "est. $1.20 · projected $1.87 · stops at budget $1.50"
    ample = monitor_numbers(_job(budget_limit="5.0000"), WINDOW, NOW, hourly_rate=RATE)
    assert ample["cost_detail"] == "est. $1.20 · projected $1.87 · budget $5.00"
    # the clock says $0.70 but a cycle has not stopped the job yet: never more than the budget
    past = monitor_numbers(_job(budget_limit="0.5000"), WINDOW, NOW, hourly_rate=RATE)
    assert past["cost_value"] == "$0.50"
    stopped = _job(status="cancelled", final_cost="0.4900", budget_limit="0.5000")
    assert monitor_numbers(stopped, WINDOW, NOW, hourly_rate=RATE)["cost_detail"] == (
        "final · est. $1.20 · budget $0.50"
    )


def test_terminal_job_shows_final_cost_and_no_eta() -> None:
    job = _job(
        status="completed",
        final_cost="0.8123",
        current_step=100,
        completed_at=(NOW - timedelta(minutes=1)).isoformat(),
    )
    numbers = monitor_numbers(job, WINDOW, NOW, hourly_rate=RATE)
    assert numbers["cost_value"] == "$0.81"
    assert numbers["cost_detail"] == "final · est. $1.20"
    assert numbers["eta_value"] == "done"
    assert numbers["eta_detail"] == "ran 5m 00s"
    cancelled = monitor_numbers({**job, "status": "cancelled"}, WINDOW, NOW, hourly_rate=RATE)
    assert cancelled["eta_value"] == "stopped"
    never = monitor_numbers({**job, "status": "cancelled", "started_at": None}, [], NOW, hourly_rate=RATE)
    assert never["eta_detail"] == "never started"


def test_queued_job_has_no_spend_and_unknowns_are_dashes_not_zeroes() -> None:
    job = _job(status="queued", started_at=None, current_step=0, current_metrics={}, current_cost="0.0000")
    numbers = monitor_numbers(job, [], NOW, hourly_rate=RATE)
    assert numbers["training_loss_value"] == "—"
    assert numbers["throughput_value"] == "—"
    assert numbers["throughput_detail"] == ""
    assert numbers["cost_value"] == "$0.00"
    assert numbers["eta_value"] == "—"
    assert numbers["eta_detail"] == "starts when the job runs"


def test_running_without_enough_rate_data_says_estimating() -> None:
    numbers = monitor_numbers(_job(), WINDOW[:2], NOW, hourly_rate=None)
    assert numbers["eta_value"] == "estimating…"
    assert numbers["cost_detail"] == "est. $1.20"  # no projection without a rate or an ETA


def test_rate_window_appends_only_newer_steps_and_keeps_the_tail() -> None:
    payload = empty_metrics_payload()
    payload["elapsed"] = {"step": [1, 2, 3], "seconds": [1.0, 2.0, 3.0]}
    window = rate_window(payload)
    assert window == [[1, 1.0], [2, 2.0], [3, 3.0]]
    more = empty_metrics_payload()
    more["elapsed"] = {"step": list(range(3, 40)), "seconds": [float(s) for s in range(3, 40)]}
    extended = rate_window(more, window)
    assert len(extended) == ETA_WINDOW
    assert extended[-1] == [39, 39.0]
    assert [p[0] for p in extended] == sorted({p[0] for p in extended})  # no duplicate step 3


def test_small_helpers() -> None:
    assert [
        s for s in ("queued", "initializing", "running", "completed", "failed", "cancelled") if is_active(s)
    ] == [
        "queued",
        "initializing",
        "running",
    ]
    assert steps_per_epoch(_job()) == 100 / 3
    assert steps_per_epoch(_job(total_epochs=0)) is None
    assert elapsed_seconds(_job(), NOW) == 360.0
    assert elapsed_seconds(_job(started_at=None), NOW) is None
    assert job_title(_job(), "support-chats") == "Training on support-chats"
    assert job_title(_job(name="v2"), "support-chats") == "v2 · support-chats"
    assert job_title(_job(), None) == "Job 0b7e4f7a"


def test_validation_card_shows_the_latest_evaluation_and_its_step_with_the_best() -> None:
    job = _job()
    job["current_metrics"] = {**job["current_metrics"], "validation_loss": None}  # most steps have none
    numbers = monitor_numbers(
        job, WINDOW, NOW, hourly_rate=RATE, best_validation=(30, 0.18), latest_validation=(40, 0.21)
    )
    assert (numbers["validation_loss_value"], numbers["validation_loss_detail"]) == (
        "0.21",
        "step 40 · best 0.18 @ 30",
    )
    same = monitor_numbers(
        job, WINDOW, NOW, hourly_rate=RATE, best_validation=(40, 0.2), latest_validation=(40, 0.2)
    )
    assert (same["validation_loss_value"], same["validation_loss_detail"]) == ("0.2", "step 40 · best so far")
    none = monitor_numbers(job, WINDOW, NOW, hourly_rate=RATE)
    assert (none["validation_loss_value"], none["validation_loss_detail"]) == ("—", "")
