"""New-job form builders: payload from form values, errors mapped to fields, the estimate panel."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dash import html

from catalog.gpus import GPU_TYPES
from components.formatters import MISSING
from components.job_form import (
    ALL_FIELDS,
    dataset_options,
    dom_id,
    estimate_summary,
    feedback_outputs,
    field_id,
    form_payload,
    general_errors_alert,
    gpu_type_options,
    number_field,
    preset_summary,
    split_errors,
)


def _text(component: Any) -> str:
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


def _find(component: Any, component_id: str) -> Any:
    if isinstance(component, list | tuple):
        for child in component:
            found = _find(child, component_id)
            if found is not None:
                return found
        return None
    if not hasattr(component, "to_plotly_json"):
        return None
    if getattr(component, "id", None) == component_id:
        return component
    return _find(getattr(component, "children", None), component_id)


def test_payload_leaves_empty_fields_out_so_the_preset_default_applies() -> None:
    values = {
        "dataset_id": "7",
        "learning_rate": 0.0003,
        "batch_size": None,
        "epochs": 2,
        "rank": "",
        "gpu_type": "H100",
        "gpu_count": 4,
        "name": "  nightly  ",
        "budget_limit": None,
    }
    payload = form_payload(values, "fast")
    assert payload == {
        "dataset_id": 7,
        "preset_id": "fast",
        "hyperparameters": {"learning_rate": 0.0003, "epochs": 2},
        "gpu_config": {"type": "H100", "count": 4},
        "name": "nightly",
    }


def test_payload_passes_bad_values_through_for_the_one_validator() -> None:
    payload = form_payload({"dataset_id": "abc", "batch_size": -1, "gpu_count": 9.5, "budget_limit": 0}, None)
    assert payload["dataset_id"] == "abc"
    assert payload["hyperparameters"] == {"batch_size": -1}
    assert payload["gpu_config"] == {"count": 9.5}
    assert payload["budget_limit"] == 0  # zero is a value (the service refuses it), not "empty"
    # a Unicode digit passes str.isdigit() but not int(): it goes to the validator as text, no crash
    assert form_payload({"dataset_id": "\u00b2"}, None)["dataset_id"] == "\u00b2"


def test_payload_without_a_dataset_sends_none() -> None:
    assert form_payload({}, "balanced")["dataset_id"] is None


def test_service_error_keys_land_on_their_fields() -> None:
    by_field, general = split_errors(
        {
            "hyperparameters.rank": "must be a whole number",
            "gpu_config.count": "must be a whole number from 1 to 8",
            "gpu_config.type": "unknown GPU type",
            "dataset_id": "no dataset 9 in your account",
            "budget_limit": "must be more than 0",
        }
    )
    assert by_field == {
        "rank": "must be a whole number",
        "gpu_count": "must be a whole number from 1 to 8",
        "gpu_type": "unknown GPU type",
        "dataset_id": "no dataset 9 in your account",
        "budget_limit": "must be more than 0",
    }
    assert general == []


def test_errors_no_field_owns_are_kept_with_their_key() -> None:
    by_field, general = split_errors({"hyperparameters.warmup": "unknown field", "body": "must be an object"})
    assert by_field == {}
    assert general == ["hyperparameters.warmup: unknown field", "body: must be an object"]


def test_a_preset_error_has_no_field_of_its_own_so_it_is_shown_for_the_form() -> None:
    by_field, general = split_errors({"preset_id": "must be one of fast, balanced, quality"})
    assert by_field == {}
    assert general == ["preset_id: must be one of fast, balanced, quality"]


def test_a_whole_gpu_config_error_flags_the_gpu_type_field() -> None:
    by_field, _ = split_errors({"gpu_config": "unknown GPU type 'X'"})
    assert by_field == {"gpu_type": "unknown GPU type 'X'"}


def test_feedback_outputs_follow_the_callbacks_field_order_and_start_sentences() -> None:
    invalid, messages = feedback_outputs(["epochs", "rank", "alpha"], {"rank": "must be a whole number"})
    assert invalid == [False, True, False]
    assert messages == ["", "Must be a whole number", ""]


def test_every_field_has_a_distinct_name_and_error_key() -> None:
    assert len({f.name for f in ALL_FIELDS}) == len(ALL_FIELDS)
    assert len({f.error_key for f in ALL_FIELDS}) == len(ALL_FIELDS)


def test_label_points_at_the_dom_id_dash_renders_for_a_dict_id() -> None:
    assert dom_id(field_id("rank")) == '{"name":"rank","type":"configure-field"}'
    column = number_field(ALL_FIELDS[2], 0.0002, 0.0002)
    label, control = column.children[0], column.children[1]
    assert label.html_for == dom_id(control.id)


def test_gpu_options_come_from_the_gpu_catalogue() -> None:
    options = gpu_type_options()
    assert [o["value"] for o in options] == list(GPU_TYPES)
    assert options[0]["label"] == "A100-80GB · $3.50/h per GPU"
    assert any(o["label"] == "V100-32GB · $2.10/h per GPU" for o in options)


def test_dataset_options_show_pairs_and_use_string_ids() -> None:
    options = dataset_options([{"id": 3, "name": "chats", "total_training_pairs": 1234}])
    assert options == [{"label": "chats (1,234 pairs)", "value": "3"}]


def test_preset_summary_reads_as_one_line() -> None:
    preset = {
        "hyperparameters": {"epochs": 1, "rank": 8, "learning_rate": 3e-4},
        "gpu_config": {"type": "A100-40GB", "count": 1},
    }
    assert preset_summary(preset) == "1 epoch · rank 8 · lr 0.0003 · A100-40GB × 1"


def test_estimate_shows_steps_duration_cost_and_rate() -> None:
    panel = estimate_summary(
        {
            "total_epochs": 3,
            "total_steps": 1_950,
            "estimated_seconds": 4_380,
            "hourly_rate": "7.0000",
            "estimated_total_cost": "8.5167",
        }
    )
    assert _text(_find(panel, "estimate-steps")) == "1,950"
    assert _text(_find(panel, "estimate-duration")) == "1h 13m"
    assert _text(_find(panel, "estimate-cost")) == "$8.52"
    assert "3 epochs · at $7.00/h" in _text(panel)


def test_estimate_over_the_budget_says_so_before_submitting() -> None:
    estimate = {"total_steps": 10, "estimated_total_cost": "8.5167", "hourly_rate": "7.0000"}
    warned = estimate_summary(estimate, budget_warning="Over the budget.")
    assert _text(_find(warned, "estimate-budget-warning")).strip() == "Over the budget."
    assert _find(estimate_summary(estimate), "estimate-budget-warning") is None
    # a form with errors shows no figures, so no warning about them either
    broken = estimate_summary(estimate, "Fix the fields.", budget_warning="Over the budget.")
    assert _find(broken, "estimate-budget-warning") is None


def test_estimate_with_a_problem_shows_dashes_never_stale_figures() -> None:
    panel = estimate_summary({"total_steps": 10, "estimated_total_cost": Decimal("1")}, "Fix the fields.")
    for figure in ("estimate-steps", "estimate-duration", "estimate-cost"):
        assert _text(_find(panel, figure)) == MISSING
    assert _text(_find(panel, "estimate-problem")) == "Fix the fields."


def test_general_errors_alert_lists_several_and_is_absent_for_none() -> None:
    assert general_errors_alert([]) is None
    alert = general_errors_alert(["a: x", "b: y"])
    assert alert is not None
    assert isinstance(alert.children, html.Ul)
    assert _text(alert) == "a: x b: y"
