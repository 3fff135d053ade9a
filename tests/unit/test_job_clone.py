"""Clone and Retry: a job's stored settings become the create request that would make it again,
with no list of fields of their own (a request field added later is copied too)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from pages._configure_layout import cloned_values, with_extra
from services import job_clone
from services.job_clone import clone_request

JOB = {
    "id": "j1",
    "name": "tuned",
    "dataset_id": 7,
    "preset_id": "fast",
    "base_model": "Qwen/Qwen2.5-0.5B",
    "hyperparameters": {"learning_rate": 0.0003, "rank": 32, "warmup_ratio": 0.1},
    "gpu_config": {"type": "A100-40GB", "count": 1},
    "budget_limit": 7.5,
    "status": "failed",
    "current_cost": 0.2,
}


def test_the_request_takes_the_create_fields_and_nothing_of_the_run() -> None:
    request = clone_request(JOB)
    assert request == {
        "name": "tuned",
        "dataset_id": 7,
        "preset_id": "fast",
        "base_model": "Qwen/Qwen2.5-0.5B",
        "hyperparameters": {"learning_rate": 0.0003, "rank": 32, "warmup_ratio": 0.1},
        "gpu_config": {"type": "A100-40GB", "count": 1},
        "budget_limit": 7.5,
    }


def test_a_request_field_added_later_is_copied_from_the_json_or_the_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(job_clone, "TOP_LEVEL_FIELDS", job_clone.TOP_LEVEL_FIELDS | {"health_checks"})
    checks = {"loss_spike": {"action": "stop"}}
    assert clone_request({**JOB, "health_checks": checks})["health_checks"] == checks
    assert clone_request(JOB, SimpleNamespace(health_checks=checks))["health_checks"] == checks


def test_the_form_shows_what_it_has_controls_for_and_carries_the_rest() -> None:
    preset, values, extra = cloned_values(
        {**clone_request(JOB), "health_checks": {"plateau": {"action": "warn"}}}
    )
    assert preset == "fast"
    assert (values["rank"], values["gpu_type"], values["gpu_count"], values["budget_limit"]) == (
        32,
        "A100-40GB",
        1,
        7.5,
    )
    assert values["dataset_id"] == 7
    assert extra == {
        "health_checks": {"plateau": {"action": "warn"}},
        "hyperparameters": {"warmup_ratio": 0.1},
    }
    sent = with_extra({"preset_id": "fast", "hyperparameters": {"rank": 16}}, extra)
    assert sent["hyperparameters"] == {"warmup_ratio": 0.1, "rank": 16}  # the form's value wins
    assert sent["health_checks"] == {"plateau": {"action": "warn"}}
    assert with_extra({"a": 1}, "not a dict") == {"a": 1}


def test_a_cloned_jobs_health_checks_fill_the_advanced_section_and_are_sent_back() -> None:
    """Clone copies the run-health settings too: the section shows them, and the form's request
    (which always carries the section's values) sends them back unchanged."""
    from components.health_form import health_card
    from components.job_form import field_id
    from tests.component_tree import walk

    def values(card: object) -> dict[str, object]:
        return {
            json.dumps(node.id, sort_keys=True): node.value
            for node in walk(card)
            if getattr(node, "id", None) is not None and hasattr(node, "value")
        }

    def key(name: str) -> str:
        return json.dumps(field_id(name), sort_keys=True)

    stored = {"exploding_loss": {"action": "stop", "factor": 5.0, "steps": 3}}
    request = {"dataset_id": 7, "preset_id": "balanced", "health_checks": stored}
    _preset, _values, extra = cloned_values(request)
    shown = values(health_card(extra.get("health_checks")))
    assert shown[key("health_exploding_loss_action")] == "stop"
    assert shown[key("health_exploding_loss_factor")] == 5.0
    assert shown[key("health_exploding_loss_steps")] is None  # the default: left empty
    assert shown[key("health_nan_loss_action")] != "stop"  # untouched checks keep their defaults
    defaults = values(health_card())
    assert defaults[key("health_exploding_loss_action")] != "stop"
