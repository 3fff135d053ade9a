"""Screenshots of the monitor (running, completed, failed, cancelled) and the jobs list for docs/screenshots/.

Opt-in (``PIPELINE_SCREENSHOTS=1``): the images are for people to look at, not assertions, and
re-writing binary files on every CI run would churn the repository.
"""

from __future__ import annotations

import os
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from api.runtime import Runtime
from db.models import JobStatus, TrainingJob
from pages._jobs_data import PAGE_SIZE
from settings import Settings
from tests.browser.monitor_support import fast_app, seed_job, start_signed_in
from tests.factories import add_event, make_job_history

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTHS = {"desktop": (1400, 1000), "phone": (390, 844)}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(os.environ.get("PIPELINE_SCREENSHOTS") != "1", reason="set PIPELINE_SCREENSHOTS=1"),
]


def _shoot(duo: Any, name: str, width: int, height: int) -> None:
    """The whole page: grow the window until the document fits (charts size themselves late)."""
    for _ in range(4):
        duo.driver.set_window_size(width, height)
        time.sleep(1.2)  # let Plotly re-layout at the new size
        inner = duo.driver.execute_script("return window.innerHeight")
        full = duo.driver.execute_script("return document.documentElement.scrollHeight")
        if full <= inner or height >= 3600:
            break
        height += full - inner
    duo.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def _set_theme(duo: Any, theme: str) -> None:
    current = duo.driver.execute_script("return document.documentElement.getAttribute('data-bs-theme')")
    if current != theme:
        # A script click: at phone width the toggle sits in the collapsed navbar menu.
        duo.driver.execute_script("document.querySelector('#theme-toggle').click()")
        time.sleep(0.8)


def _ended(runtime: Runtime, job_id: str, status: str, actor: str, details: dict[str, Any]) -> None:
    """The event that ended a seeded terminal job, as the state machine writes it."""
    with runtime.transaction() as session:
        job = session.get(TrainingJob, uuid.UUID(job_id))
        assert job is not None
        add_event(session, job, "status_changed", from_status="running", to_status=status, actor=actor,
                  details=details, at=job.completed_at)  # fmt: skip


def test_screenshots(dash_duo: Any, settings: Settings, runtime: Runtime, user: dict[str, Any]) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    app = fast_app(settings, runtime)
    with runtime.transaction() as session:  # older jobs, so the jobs list shows its pager
        make_job_history(
            session,
            user["id"],
            2 * PAGE_SIZE,
            prefix="lr-sweep",
            progress=100.0,
            current_cost=Decimal("1.1420"),
            final_cost=Decimal("1.1420"),
        )
    oom = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity)"
    failed = seed_job(
        runtime, user["id"], JobStatus.FAILED, points=40, dataset_name="legal-qa", error_message=oom
    )
    _ended(runtime, failed, "failed", "cluster", {"source": "cluster", "error": oom})
    cancelled = seed_job(runtime, user["id"], JobStatus.CANCELLED, points=120, dataset_name="contracts-v3",
                         total_steps=400, total_epochs=4)  # fmt: skip
    _ended(runtime, cancelled, "cancelled", f"user:{user['id']}", {"reason": "cancelled by the user"})
    done = seed_job(
        runtime,
        user["id"],
        JobStatus.COMPLETED,
        points=300,
        dataset_name="product-faq",
        progress=100.0,
        current_step=300,
        total_steps=300,
        total_epochs=3,
        current_epoch=3,
    )
    running = seed_job(
        runtime,
        user["id"],
        JobStatus.RUNNING,
        points=180,
        dataset_name="support-chats",
        total_steps=400,
        total_epochs=4,
    )
    seed_job(runtime, user["id"], JobStatus.QUEUED, dataset_name="support-chats-v2")
    duo = start_signed_in(dash_duo, app, user)
    for theme in ("light", "dark"):
        for page, path, ready in (
            ("jobs-list", "/training/jobs", "#jobs-table tbody tr"),
            ("monitor-running", f"/training/jobs/{running}", "#mon-loss-graph .main-svg"),
            ("monitor-completed", f"/training/jobs/{done}", "#mon-loss-graph .main-svg"),
            ("monitor-failed", f"/training/jobs/{failed}", "#mon-loss-graph .main-svg"),
            ("monitor-cancelled", f"/training/jobs/{cancelled}", "#mon-loss-graph .main-svg"),
        ):
            for label, (width, height) in WIDTHS.items():
                duo.driver.set_window_size(width, height)
                duo.driver.get(f"{duo.server.url}{path}")
                duo.wait_for_element(ready, timeout=30)
                _set_theme(duo, theme)
                suffix = "" if theme == "light" else "-dark"
                _shoot(duo, f"{page}-{label}{suffix}", width, height)
    # the other two tabs of the failed job (error message, events), light theme, desktop
    duo.driver.set_window_size(*WIDTHS["desktop"])
    duo.driver.get(f"{duo.server.url}/training/jobs/{failed}")
    duo.wait_for_element("#mon-loss-graph .main-svg", timeout=30)
    _set_theme(duo, "light")
    for tab, name in (("Activity Log", "activity"), ("Configuration", "config")):
        duo.driver.find_element("link text", tab).click()
        time.sleep(0.5)
        _shoot(duo, f"monitor-failed-{name}-desktop", *WIDTHS["desktop"])
