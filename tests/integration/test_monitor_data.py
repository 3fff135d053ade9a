"""The monitor's data access on PostgreSQL: ownership, since_step reads, and the shared cancel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask_login import login_user

from api.auth import SessionUser
from api.runtime import Runtime
from db.models import JobStatus, User
from pages._monitor_data import cancel, read_job
from tests.browser.monitor_support import seed_job
from tests.conftest import make_user

pytestmark = pytest.mark.postgres


@pytest.fixture
def as_user(app: Any, runtime: Runtime, user: dict[str, Any]) -> Iterator[None]:
    """A request context signed in as `user`, like a Dash callback request."""
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        with runtime.transaction() as session:
            account = session.get(User, user["id"])
            assert account is not None
            login_user(SessionUser(account))
        yield


def test_read_job_returns_own_job_with_history_or_only_newer_points(
    as_user: None, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = seed_job(runtime, user["id"], JobStatus.RUNNING, points=30)
    full = read_job(job_id, with_dataset=True)
    assert full is not None
    assert full.metrics is not None
    assert full.metrics["series"]["training_loss"]["step"] == list(range(1, 31))
    assert full.dataset is not None
    assert full.dataset["name"] == "support-chats"
    assert full.hourly_rate is not None
    assert [e["to_status"] for e in full.events] == ["running", "queued"]  # newest first
    newer = read_job(job_id, since_step=25)
    assert newer is not None
    assert newer.metrics is not None
    assert newer.metrics["series"]["training_loss"]["step"] == [26, 27, 28, 29, 30]


def test_other_users_missing_and_malformed_ids_all_read_as_none_and_cannot_be_cancelled(
    as_user: None, runtime: Runtime, user: dict[str, Any]
) -> None:
    theirs = seed_job(runtime, make_user(runtime, "eve@example.com"), JobStatus.RUNNING)
    for job_id in (theirs, "00000000-0000-4000-8000-000000000000", "not-a-uuid", "", None):
        assert read_job(job_id) is None
    outcome = cancel(theirs)
    assert not outcome.ok
    assert "no longer exists" in outcome.message
    assert read_job(theirs) is None


def test_cancel_goes_through_the_state_machine_once(
    as_user: None, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = seed_job(runtime, user["id"], JobStatus.RUNNING, points=3)
    first = cancel(job_id)
    assert first.ok
    snap = read_job(job_id, with_metrics=False)
    assert snap is not None
    assert snap.job["status"] == "cancelled"
    again = cancel(job_id)
    assert not again.ok
    assert "already cancelled" in again.message


def test_monitor_callbacks_over_http_reveal_nothing_about_another_users_job(
    auth_client: Any, app: Any, runtime: Runtime
) -> None:
    """The callback endpoint is an API too: posting another user's job id gets the not-found
    alert and a stopped interval, never the job's data (what a crafted request would try)."""
    from benchmarks.monitor_tick import callback_request, callbacks_of

    theirs = seed_job(
        runtime,
        make_user(runtime, "eve@example.com"),
        JobStatus.RUNNING,
        points=5,
        dataset_name="eve-secrets",
    )
    auth_client.get("/training/jobs")  # first request: Dash registers its callbacks
    values = {
        "mon-job-id.data": theirs,
        "mon-smoothing.value": 0.6,
        "mon-y-scale.value": "linear",
        "mon-x-axis.value": "step",
        "theme-store.data": "light",
        "mon-interval.n_intervals": 1,
        "mon-chart-state.data": {"last_step": 0},
        "mon-chart-opts.data": {"smoothing": 0.6, "log_y": False, "x_axis": "step", "steps_per_epoch": None},
    }
    for input_id, prop in (("mon-job-id", "data"), ("mon-interval", "n_intervals")):
        response = auth_client.post(
            "/_dash-update-component", json=callback_request(callbacks_of(app), input_id, prop, values)
        )
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert "eve-secrets" not in text
        assert "ext-7f3a" not in text
        assert "training_loss" not in text
    assert set(response.get_json()["response"]) == {"mon-interval"}  # the tick only stops itself
    assert response.get_json()["response"]["mon-interval"] == {"disabled": True}
