"""/training/configure in headless Chromium on PostgreSQL: live estimate, field errors, submit."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from dash.testing.wait import until
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select

from api.runtime import Runtime
from catalog.gpus import GPU_TYPES, GpuType
from components.job_form import dom_id, feedback_id, field_id
from db.models import JobEvent, JobStatus, TrainingJob
from services.costs import format_money
from services.job_config import budget_warning, estimate_job_config, resolve_job_config
from tests.accounts import make_user
from tests.browser.accessibility import unnamed_controls
from tests.browser.clicks import click_in_view
from tests.browser.screens import save_screenshots
from tests.factories import make_dataset

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PAIRS, TOKENS = 1_000, 120_000


def _by_dom_id(dash_duo: Any, component_id: dict[str, str]) -> Any:
    # A dict id renders as a JSON string (double quotes), so an XPath literal in single quotes holds it.
    return dash_duo.driver.find_element(By.XPATH, f"//*[@id='{dom_id(component_id)}']")


def _field(dash_duo: Any, name: str) -> Any:
    return _by_dom_id(dash_duo, field_id(name))


def _feedback(dash_duo: Any, name: str) -> Any:
    return _by_dom_id(dash_duo, feedback_id(name))


def _type(dash_duo: Any, name: str, text: str) -> None:
    """Replace the field's text in one edit (select all, type): no intermediate empty value."""
    element = _field(dash_duo, name)
    click_in_view(dash_duo.driver, element)  # focus first: keys must not land in the field edited just before
    WebDriverWait(dash_duo.driver, 5).until(lambda d: d.switch_to.active_element == element)
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(text)
    WebDriverWait(dash_duo.driver, 5).until(lambda _d: element.get_attribute("value") == text)


def _wait_invalid(dash_duo: Any, name: str) -> None:
    try:
        WebDriverWait(dash_duo.driver, 10).until(
            lambda _d: "is-invalid" in _field(dash_duo, name).get_attribute("class")
        )
    except TimeoutException:
        field = _field(dash_duo, name)
        state = (field.get_attribute("value"), field.get_attribute("class"), _feedback(dash_duo, name).text)
        raise AssertionError(f"{name} never flagged: value, class, feedback = {state}") from None


def _expected_steps(dataset_id: int, preset: str = "balanced", **hyperparameters: Any) -> str:
    config = resolve_job_config(
        {"dataset_id": dataset_id, "preset_id": preset, "hyperparameters": hyperparameters}
    )
    return f"{estimate_job_config(config, PAIRS, TOKENS).total_steps:,}"


@pytest.fixture
def datasets(runtime: Runtime, user: dict[str, Any]) -> dict[str, int]:
    """The user's ready dataset, and another user's that must never be offered."""
    other = make_user(runtime, "mallory@example.com")
    with runtime.transaction() as session:
        mine = make_dataset(
            session, user["id"], name="support-chats", total_training_pairs=PAIRS, total_tokens=TOKENS
        )
        theirs = make_dataset(session, other, name="mallory-secret")
        return {"mine": mine.id, "theirs": theirs.id}


def _open(dash_duo: Any, path: str = "/training/configure") -> None:
    dash_duo.driver.get(f"{dash_duo.server.url}{path}")
    dash_duo.wait_for_element("#configure-estimate")


def test_cfg001_live_estimate_follows_the_form_and_presets(
    signed_in_duo: Any, datasets: dict[str, int]
) -> None:
    dash_duo = signed_in_duo
    _open(dash_duo)
    options = [o.text for o in Select(_field(dash_duo, "dataset_id")).options if o.get_attribute("value")]
    assert options == [f"support-chats ({PAIRS:,} pairs)"]  # only the user's own, ready datasets
    dash_duo.wait_for_text_to_equal("#estimate-steps", _expected_steps(datasets["mine"]), timeout=10)
    assert dash_duo.find_element("#estimate-cost").text.startswith("$")

    _type(dash_duo, "epochs", "5")
    dash_duo.wait_for_text_to_equal(
        "#estimate-steps", _expected_steps(datasets["mine"], epochs=5), timeout=10
    )

    dash_duo.driver.find_element(By.XPATH, "//label[normalize-space()='Quality']").click()
    dash_duo.wait_for_text_to_equal(
        "#estimate-steps", _expected_steps(datasets["mine"], "quality"), timeout=10
    )
    # The preset fills the fields through its own callback, which may answer after the estimate's.
    until(lambda: _field(dash_duo, "rank").get_attribute("value") == "64", timeout=10)
    assert Select(_field(dash_duo, "gpu_type")).first_selected_option.get_attribute("value") == "H100"
    assert unnamed_controls(dash_duo) == []
    assert dash_duo.get_logs() == []


def test_cfg002_field_errors_appear_under_their_fields_and_clear_when_fixed(
    signed_in_duo: Any, datasets: dict[str, int]
) -> None:
    dash_duo = signed_in_duo
    _open(dash_duo)
    dash_duo.wait_for_text_to_equal("#estimate-steps", _expected_steps(datasets["mine"]), timeout=10)

    _type(dash_duo, "batch_size", "0")
    _type(dash_duo, "gpu_count", "9")
    dash_duo.wait_for_text_to_equal("#estimate-steps", "—", timeout=10)
    _wait_invalid(dash_duo, "gpu_count")
    assert "is-invalid" in _field(dash_duo, "batch_size").get_attribute("class")
    assert _feedback(dash_duo, "batch_size").text == "Must be at least 1 and at most 1024"
    assert _feedback(dash_duo, "gpu_count").text == "Must be a whole number from 1 to 8"
    assert "is-invalid" not in _field(dash_duo, "epochs").get_attribute("class")
    assert (
        dash_duo.find_element("#estimate-problem").text == "Fix the highlighted fields to see the estimate."
    )
    save_screenshots(dash_duo, "configure-errors")

    # Submitting now is refused and creates nothing.
    dash_duo.find_element("#configure-submit").click()
    dash_duo.wait_for_element("#configure-not-created", timeout=10)

    _type(dash_duo, "batch_size", "8")
    _type(dash_duo, "gpu_count", "2")
    dash_duo.wait_for_text_to_equal(
        "#estimate-steps", _expected_steps(datasets["mine"], batch_size=8), timeout=10
    )
    assert "is-invalid" not in _field(dash_duo, "batch_size").get_attribute("class")
    assert _feedback(dash_duo, "batch_size").text == ""
    assert dash_duo.get_logs() == []


def test_cfg003_submit_creates_a_queued_job_and_lands_on_its_monitor(
    signed_in_duo: Any, datasets: dict[str, int], runtime: Runtime, user: dict[str, Any]
) -> None:
    dash_duo = signed_in_duo
    _open(dash_duo)
    dash_duo.wait_for_text_to_equal("#estimate-steps", _expected_steps(datasets["mine"]), timeout=10)
    save_screenshots(dash_duo, "configure")
    _type(dash_duo, "rank", "32")
    Select(_field(dash_duo, "gpu_type")).select_by_value("V100-32GB")
    _type(dash_duo, "gpu_count", "4")
    _type(dash_duo, "name", "nightly run")
    config = resolve_job_config(
        {
            "dataset_id": datasets["mine"],
            "preset_id": "balanced",
            "hyperparameters": {"rank": 32},
            "gpu_config": {"type": "V100-32GB", "count": 4},
        }
    )
    expected_cost = format_money(estimate_job_config(config, PAIRS, TOKENS).estimated_total_cost)
    dash_duo.wait_for_text_to_equal("#estimate-cost", expected_cost, timeout=10)
    dash_duo.wait_for_text_to_equal("#estimate-steps", _expected_steps(datasets["mine"], rank=32), timeout=10)

    dash_duo.find_element("#configure-submit").click()
    WebDriverWait(dash_duo.driver, 10).until(lambda _d: "/training/jobs/" in dash_duo.driver.current_url)
    job_id = dash_duo.driver.current_url.rsplit("/", 1)[1]
    with runtime.transaction() as session:
        jobs = session.scalars(select(TrainingJob)).all()
        assert [str(j.id) for j in jobs] == [job_id]
        job = jobs[0]
        assert job.user_id == user["id"]
        assert job.dataset_id == datasets["mine"]
        assert job.status == JobStatus.QUEUED
        assert job.hyperparameters["rank"] == 32
        assert job.hyperparameters["name"] == "nightly run"
        assert job.gpu_config == {"type": "V100-32GB", "count": 4}
        assert job.total_steps > 0
        assert format_money(job.estimated_total_cost) == expected_cost  # what the page showed
        kinds = session.scalars(select(JobEvent.kind).where(JobEvent.job_id == job.id)).all()
        assert kinds == ["queued"]
        assert session.scalar(select(JobEvent.actor).where(JobEvent.job_id == job.id)) == user["email"]
    assert dash_duo.get_logs() == []


def test_cfg004_without_a_dataset_the_page_points_to_datasets(signed_in_duo: Any, runtime: Runtime) -> None:
    other = make_user(runtime, "mallory@example.com")
    with runtime.transaction() as session:
        make_dataset(session, other, name="mallory-secret")
    dash_duo = signed_in_duo
    dash_duo.driver.get(f"{dash_duo.server.url}/training/configure")
    link = dash_duo.wait_for_element("#configure-empty a[href='/datasets']")
    assert link.text == "Go to datasets"
    assert "mallory-secret" not in dash_duo.driver.page_source
    assert not dash_duo.find_element("#configure-form").is_displayed()
    save_screenshots(dash_duo, "configure-empty")
    link.click()
    WebDriverWait(dash_duo.driver, 10).until(lambda _d: dash_duo.driver.current_url.endswith("/datasets"))
    assert dash_duo.get_logs() == []


def test_cfg005_a_budget_below_the_estimate_is_flagged_before_submitting(
    signed_in_duo: Any, datasets: dict[str, int]
) -> None:
    dash_duo = signed_in_duo
    _open(dash_duo)
    config = resolve_job_config({"dataset_id": datasets["mine"], "preset_id": "balanced"})
    estimated = estimate_job_config(config, PAIRS, TOKENS).estimated_total_cost
    dash_duo.wait_for_text_to_equal("#estimate-cost", format_money(estimated), timeout=10)
    assert not dash_duo.driver.find_elements(By.ID, "estimate-budget-warning")

    low = (estimated / 2).quantize(Decimal("0.01"))
    _type(dash_duo, "budget_limit", str(low))
    expected = budget_warning(estimated, low)
    assert expected is not None
    dash_duo.wait_for_text_to_equal("#estimate-budget-warning", expected, timeout=10)
    assert format_money(low) in expected

    _type(dash_duo, "budget_limit", str((estimated * 2).quantize(Decimal("0.01"))))
    dash_duo.wait_for_no_elements("#estimate-budget-warning", timeout=10)
    assert dash_duo.get_logs() == []


def test_cfg006_base_model_choice_follows_the_preset_refuses_a_gpu_too_small_and_reaches_the_monitor(
    signed_in_duo: Any, datasets: dict[str, int], runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 16 GB GPU, offered only to this test: no catalogued GPU is too small for a catalogued model.
    monkeypatch.setitem(GPU_TYPES, "T4", GpuType("T4", Decimal("0.50"), 16, False, 600.0))
    dash_duo = signed_in_duo
    _open(dash_duo)
    model = _field(dash_duo, "base_model")
    assert Select(model).first_selected_option.get_attribute("value") == "mistralai/Mistral-7B-v0.1"
    dash_duo.driver.find_element(By.XPATH, "//label[normalize-space()='Fast']").click()
    until(
        lambda: (
            Select(_field(dash_duo, "base_model")).first_selected_option.get_attribute("value")
            == "Qwen/Qwen2.5-0.5B"
        ),
        timeout=10,
    )

    Select(_field(dash_duo, "base_model")).select_by_value("meta-llama/Llama-3.1-8B")
    Select(_field(dash_duo, "gpu_type")).select_by_value("T4")
    _wait_invalid(dash_duo, "base_model")
    assert _feedback(dash_duo, "base_model").text == (
        "Llama 3.1 8B needs 21.3 GB per GPU for LoRA training; a T4 has 16 GB: "
        "choose a GPU with more memory or a smaller model"
    )
    dash_duo.wait_for_text_to_equal("#estimate-steps", "—", timeout=10)

    Select(_field(dash_duo, "gpu_type")).select_by_value("A100-80GB")
    config = resolve_job_config(
        {
            "dataset_id": datasets["mine"],
            "preset_id": "fast",
            "base_model": "meta-llama/Llama-3.1-8B",
            "gpu_config": {"type": "A100-80GB"},
        }
    )
    expected_cost = format_money(estimate_job_config(config, PAIRS, TOKENS).estimated_total_cost)
    dash_duo.wait_for_text_to_equal("#estimate-cost", expected_cost, timeout=10)
    dash_duo.find_element("#configure-submit").click()
    WebDriverWait(dash_duo.driver, 10).until(lambda _d: "/training/jobs/" in dash_duo.driver.current_url)
    job_id = dash_duo.driver.current_url.rsplit("/", 1)[1]
    with runtime.transaction() as session:
        stored = session.get(TrainingJob, uuid.UUID(job_id))
        assert stored is not None
        assert stored.base_model == "meta-llama/Llama-3.1-8B"
    until(lambda: "Llama 3.1 8B" in dash_duo.find_element("#mon-subtitle").text, timeout=10)
    assert dash_duo.get_logs() == []


def test_cfg007_advanced_health_checks_flag_a_bad_threshold_and_reach_the_job(
    signed_in_duo: Any, datasets: dict[str, int], runtime: Runtime
) -> None:
    dash_duo = signed_in_duo
    _open(dash_duo)
    dash_duo.wait_for_text_to_equal("#estimate-steps", _expected_steps(datasets["mine"]), timeout=10)
    advanced = dash_duo.driver.find_element(By.XPATH, "//button[contains(., 'Advanced: run health checks')]")
    click_in_view(dash_duo.driver, advanced)
    until(lambda: _field(dash_duo, "health_exploding_loss_factor").is_displayed(), timeout=10)

    _type(dash_duo, "health_exploding_loss_factor", "0.5")
    _wait_invalid(dash_duo, "health_exploding_loss_factor")
    assert _feedback(dash_duo, "health_exploding_loss_factor").text == "Must be from 1.1 to 100"
    dash_duo.wait_for_text_to_equal("#estimate-steps", "—", timeout=10)

    _type(dash_duo, "health_exploding_loss_factor", "4")
    Select(_field(dash_duo, "health_exploding_loss_action")).select_by_value("stop")
    dash_duo.wait_for_text_to_equal("#estimate-steps", _expected_steps(datasets["mine"]), timeout=10)
    click_in_view(dash_duo.driver, dash_duo.find_element("#configure-submit"))
    WebDriverWait(dash_duo.driver, 10).until(lambda _d: "/training/jobs/" in dash_duo.driver.current_url)
    with runtime.transaction() as session:
        (job,) = session.scalars(select(TrainingJob)).all()
        assert job.health_checks["exploding_loss"] == {"action": "stop", "factor": 4.0, "steps": 3}
        assert job.health_checks["gpu_idle"]["action"] == "warn"
    assert dash_duo.get_logs() == []
