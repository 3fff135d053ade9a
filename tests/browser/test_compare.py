"""Comparing jobs and cloning one, in headless Chromium: pick three jobs in the list (one running),
the comparison updates live then stops polling once all are terminal; Clone and Retry fill the
configure page from a job; another user's job in the address shows a message and nothing of it."""

from __future__ import annotations

import math
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.by import By

from api.runtime import Runtime
from components.job_form import dom_id, field_id
from db.base import utcnow
from db.models import JobStatus, MetricPoint, TrainingJob
from settings import Settings
from tests.accounts import make_user
from tests.browser.monitor_support import (
    POLL_SECONDS,
    TRACE_LENGTHS_JS,
    UPDATE_REQUESTS_JS,
    advance,
    fast_app,
    seed_job,
    start_signed_in,
)
from tests.browser.screens import SCREENSHOTS
from tests.factories import store_points

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def compare_app(settings: Settings, runtime: Runtime) -> Any:
    return fast_app(settings, runtime)


def _set(runtime: Runtime, job_id: str, **values: Any) -> None:
    with runtime.transaction() as session:
        job = session.get(TrainingJob, uuid.UUID(job_id))
        assert job is not None
        for key, value in values.items():
            setattr(job, key, value)


def _curve(runtime: Runtime, job_id: str, steps: int, tau: float, floor: float) -> None:
    """``steps`` points of a loss curve of its own shape (the factories' curve is the same for every job)."""
    with runtime.transaction() as session:
        job = session.get(TrainingJob, uuid.UUID(job_id))
        assert job is not None
        origin = job.started_at or utcnow()
        store_points(
            session,
            (
                MetricPoint(
                    job_id=job.id,
                    step=step,
                    timestamp=origin + timedelta(seconds=step * 3.0),
                    training_loss=floor + 2.0 * math.exp(-step / tau) + math.sin(step * 1.7) * 0.03,
                    validation_loss=floor + 0.08 + 2.0 * math.exp(-step / tau) if step % 10 == 0 else None,
                )
                for step in range(1, steps + 1)
            ),
        )
        job.current_step = steps


def _tick(duo: Any, job_id: str) -> None:
    box = duo.driver.find_element(By.CSS_SELECTOR, f"tr[data-job-id='{job_id}'] input.jobs-pick")
    duo.driver.execute_script("arguments[0].click();", box)


def test_cmp001_three_jobs_one_running_update_live_then_stop_polling(
    dash_duo: Any, compare_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    running = seed_job(runtime, user["id"], JobStatus.RUNNING, points=20, dataset_name="chats-live")
    done = seed_job(runtime, user["id"], JobStatus.COMPLETED, dataset_name="chats-done", total_steps=120)
    _curve(runtime, done, 120, tau=30.0, floor=0.25)
    failed = seed_job(runtime, user["id"], JobStatus.FAILED, dataset_name="chats-failed", total_epochs=3)
    _curve(runtime, failed, 60, tau=12.0, floor=0.6)
    duo = start_signed_in(dash_duo, compare_app, user)
    duo.wait_for_element("#jobs-table tbody tr.jobs-row", timeout=10)
    for job_id in (running, done, failed):
        _tick(duo, job_id)
    duo.wait_for_text_to_equal("#jobs-compare-hint", "3 selected.", timeout=10)
    link = duo.find_element("#jobs-compare")
    assert link.get_attribute("href").endswith(f"/training/compare?jobs={running},{done},{failed}")
    link.click()
    duo.wait_for_element("#cmp-outcomes tbody tr", timeout=10)
    assert len(duo.find_elements("#cmp-outcomes tbody tr")) == 3
    duo.wait_for_text_to_equal("#cmp-live", "updating live", timeout=10)
    differs = [row.text for row in duo.find_elements("#cmp-settings tr.compare-differs")]
    assert any(row.startswith("epochs") for row in differs), differs
    # traces: per job raw training, smoothed training, validation; the running job is the first
    until(lambda: (duo.driver.execute_script(TRACE_LENGTHS_JS, "cmp-graph") or [0])[0] == 20, timeout=10)
    advance(runtime, running, 30)
    until(lambda: duo.driver.execute_script(TRACE_LENGTHS_JS, "cmp-graph")[0] == 30, timeout=10)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    duo.driver.set_window_size(1400, 1300)
    time.sleep(1.0)
    duo.driver.save_screenshot(str(SCREENSHOTS / "compare-desktop.png"))
    _set(runtime, running, status=JobStatus.COMPLETED.value, completed_at=None)
    until(lambda: duo.find_element("#cmp-live").text == "", timeout=10)
    settled = duo.driver.execute_script(UPDATE_REQUESTS_JS)
    time.sleep(POLL_SECONDS * 5)
    assert duo.driver.execute_script(UPDATE_REQUESTS_JS) == settled  # no more ticks
    assert "Completed" in duo.find_element(f"#cmp-outcomes tr[data-job-id='{running}']").text
    assert duo.get_logs() == []


def test_cmp002_another_users_job_or_eleven_ids_show_a_message_and_nothing_else(
    dash_duo: Any, compare_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    mine = seed_job(runtime, user["id"], JobStatus.COMPLETED, points=10)
    theirs = seed_job(
        runtime, make_user(runtime, "eve@example.com"), JobStatus.COMPLETED, dataset_name="eves-data"
    )
    duo = start_signed_in(dash_duo, compare_app, user, next_path=f"/training/compare?jobs={mine},{theirs}")
    duo.wait_for_element("#cmp-problem-alert", timeout=10)
    assert "not a training job in your account" in duo.find_element("#cmp-problem-alert").text
    assert "eves-data" not in duo.find_element("body").text
    assert not duo.find_elements("#cmp-outcomes tbody tr")
    duo.driver.get(
        f"{duo.server.url}/training/compare?jobs={','.join([mine] + [str(uuid.uuid4()) for _ in range(10)])}"
    )
    duo.wait_for_contains_text("#cmp-problem-alert", "at most 10", timeout=10)
    assert duo.get_logs() == []


def test_cmp003_clone_and_retry_fill_the_configure_page_from_the_job(
    dash_duo: Any, compare_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    failed = seed_job(runtime, user["id"], JobStatus.FAILED, points=5, dataset_name="chats-failed",
                      base_model="mistralai/Mistral-7B-v0.1", budget_limit=Decimal("7.5"))  # fmt: skip
    _set(runtime, failed, hyperparameters={"learning_rate": 0.0003, "batch_size": 4, "epochs": 2, "rank": 32,
                                           "alpha": 64, "dropout": 0.1, "max_seq_length": 1024, "name": "tuned-run"})  # fmt: skip
    done = seed_job(runtime, user["id"], JobStatus.COMPLETED, points=5)
    duo = start_signed_in(dash_duo, compare_app, user, next_path=f"/training/jobs/{done}")
    duo.wait_for_element("#mon-clone", timeout=10)
    until(lambda: "d-none" in (duo.find_element("#mon-retry").get_attribute("class") or ""), timeout=10)
    duo.driver.get(f"{duo.server.url}/training/jobs/{failed}")
    duo.wait_for_element("#mon-title", timeout=10)
    until(lambda: duo.find_element("#mon-retry").is_displayed(), timeout=10)
    duo.find_element("#mon-retry").click()
    duo.wait_for_contains_text("#configure-cloned", "tuned-run", timeout=10)

    def value(name: str) -> str:
        return duo.driver.find_element(By.XPATH, f"//*[@id='{dom_id(field_id(name))}']").get_attribute(
            "value"
        )

    assert value("rank") == "32"
    assert value("learning_rate") == "0.0003"
    assert value("max_seq_length") == "1024"
    assert value("name") == "tuned-run"
    assert value("budget_limit") == "7.5"
    duo.wait_for_contains_text("#configure-estimate", "$", timeout=10)
    assert duo.get_logs() == []
