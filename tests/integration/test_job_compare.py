"""Comparing jobs on PostgreSQL: `GET /api/jobs/compare` and the comparison page's read share one
service; ownership, the 10-job limit, the outcome figures and live/terminal are checked here."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import plotly
import pytest
from flask_login import login_user

from api.auth import SessionUser
from api.runtime import Runtime
from db.models import JobStatus, TrainingJob, User
from pages._compare_data import read_comparison, signature
from pages._configure_data import job_to_clone
from tests.browser.monitor_support import advance, seed_job
from tests.integration.api_fixtures import ApiUser

pytestmark = pytest.mark.postgres


def _compare(user: ApiUser, ids: list[str]) -> Any:
    return user.get("/api/jobs/compare", query_string={"ids": ",".join(ids)})


def test_compare_returns_each_job_with_loss_series_outcome_and_differing_settings(
    alice: ApiUser, runtime: Runtime
) -> None:
    running = seed_job(runtime, alice.id, JobStatus.RUNNING, points=30)
    done = seed_job(runtime, alice.id, JobStatus.COMPLETED, points=60, total_epochs=3)
    response = _compare(alice, [running, done])
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert [e["job"]["id"] for e in data["jobs"]] == [running, done]
    assert set(data["jobs"][0]["series"]) == {"training_loss", "validation_loss"}
    assert data["jobs"][1]["series"]["training_loss"]["step"][-1] == 60
    assert data["all_terminal"] is False
    out = data["jobs"][1]["outcome"]
    validation = data["jobs"][1]["series"]["validation_loss"]["value"]
    assert out["best_validation_loss"] == min(validation)
    assert out["final_validation_loss"] == validation[-1]
    assert out["cost"] == 0.2345
    training = data["jobs"][1]["series"]["training_loss"]["value"]
    drop = (training[0] - training[-1]) / training[0] * 100
    assert out["improvement_pct"] == pytest.approx(drop, abs=1e-3)
    assert out["cost_per_improvement_pct"] == pytest.approx(0.2345 / drop, abs=1e-4)
    assert out["duration_seconds"] > 0
    rows = {row["name"]: row for row in data["settings"]}
    assert rows["epochs"]["values"] == [2, 3]
    assert rows["epochs"]["differs"] is True
    assert rows["rank"]["differs"] is False


def test_another_users_job_is_refused_like_a_missing_one_and_leaks_nothing(
    alice: ApiUser, bob: ApiUser, runtime: Runtime
) -> None:
    mine = seed_job(runtime, alice.id, JobStatus.COMPLETED, points=10)
    theirs = seed_job(runtime, bob.id, JobStatus.COMPLETED, points=10, dataset_name="bobs-secret-data")
    missing = "00000000-0000-4000-8000-000000000000"
    refused = _compare(alice, [mine, theirs])
    absent = _compare(alice, [mine, missing])
    assert refused.status_code == absent.status_code == 404
    assert refused.get_json()["error"] == absent.get_json()["error"] == "Job not found or access denied"
    body = refused.get_data(as_text=True)
    assert "bobs-secret-data" not in body
    assert "0.2345" not in body
    assert mine not in body


def test_more_than_ten_ids_or_none_is_a_400_naming_ids(alice: ApiUser, runtime: Runtime) -> None:
    ids = [seed_job(runtime, alice.id, JobStatus.COMPLETED) for _ in range(11)]
    too_many = _compare(alice, ids)
    assert too_many.status_code == 400
    assert "at most 10" in too_many.get_json()["details"]["ids"]
    assert _compare(alice, ids[:10]).status_code == 200
    empty = alice.get("/api/jobs/compare")
    assert empty.status_code == 400
    assert "ids" in empty.get_json()["details"]
    assert _compare(alice, [ids[0], ids[0]]).get_json()["data"]["jobs"][0]["job"]["id"] == ids[0]


@pytest.fixture
def as_alice(app: Any, runtime: Runtime, alice: ApiUser) -> Iterator[None]:
    """A request context signed in as alice, like a Dash callback request."""
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        with runtime.transaction() as session:
            account = session.get(User, alice.id)
            assert account is not None
            login_user(SessionUser(account))
        yield


def test_page_read_is_live_until_all_terminal_and_its_signature_moves_with_the_jobs(
    as_alice: None, alice: ApiUser, bob: ApiUser, runtime: Runtime
) -> None:
    running = seed_job(runtime, alice.id, JobStatus.RUNNING, points=10)
    done = seed_job(runtime, alice.id, JobStatus.FAILED, points=5)
    first = read_comparison(f"{running},{done}")
    assert first.data is not None
    assert first.data["all_terminal"] is False
    assert signature(first.data) == signature(read_comparison(f"{running},{done}").data or {})
    advance(runtime, running, 14)
    moved = read_comparison(f"{running},{done}")
    assert moved.data is not None
    assert signature(moved.data) != signature(first.data)
    assert moved.data["jobs"][0]["series"]["training_loss"]["step"][-1] == 14
    with runtime.transaction() as session:
        job = session.get(TrainingJob, uuid.UUID(running))
        assert job is not None
        job.status = JobStatus.COMPLETED.value
    assert (read_comparison(f"{running},{done}").data or {})["all_terminal"] is True
    theirs = seed_job(runtime, bob.id, JobStatus.RUNNING, points=3)
    refused = read_comparison(f"{running},{theirs}")
    assert refused.data is None
    assert refused.problem is not None
    assert "not a training job in your account" in refused.problem
    eleven = read_comparison(
        ",".join([running] * 1 + [f"{i:08d}-0000-4000-8000-000000000000" for i in range(10)])
    )
    assert eleven.data is None
    assert "at most 10" in (eleven.problem or "")


def test_configure_from_a_job_is_owner_only_and_another_users_id_prefills_nothing(
    as_alice: None, alice: ApiUser, bob: ApiUser, runtime: Runtime
) -> None:
    from pages import configure  # registered with the app built by the fixtures

    mine = seed_job(runtime, alice.id, JobStatus.FAILED, points=3, dataset_name="alices-data")
    theirs = seed_job(runtime, bob.id, JobStatus.FAILED, points=3, dataset_name="bobs-data")
    _set_hyperparameters(runtime, theirs, rank=48)
    _set_hyperparameters(runtime, mine, rank=24)
    found = job_to_clone(alice.id, mine)
    assert found is not None
    assert found[0]["hyperparameters"]["rank"] == 24
    assert job_to_clone(alice.id, theirs) is None
    page = json.dumps(
        configure.layout(**{"from": theirs}).to_plotly_json(), cls=plotly.utils.PlotlyJSONEncoder
    )
    assert "That job is not in your account" in page
    assert "bobs-data" not in page
    assert '"value": 48' not in page
    own = json.dumps(configure.layout(**{"from": mine}).to_plotly_json(), cls=plotly.utils.PlotlyJSONEncoder)
    assert "Settings copied from job" in own
    assert '"value": 24' in own


def _set_hyperparameters(runtime: Runtime, job_id: str, **values: Any) -> None:
    with runtime.transaction() as session:
        job = session.get(TrainingJob, uuid.UUID(job_id))
        assert job is not None
        job.hyperparameters = {**job.hyperparameters, **values}
