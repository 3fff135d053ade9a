"""The monitor's health warning, its Activity Log sentence and the Configuration tab's rows."""

from __future__ import annotations

from catalog.health_checks import default_health_config
from components.activity_log import event_sentence
from components.health_view import health_alerts
from components.job_view import health_rows
from tests.component_tree import walk


def text_of(component: object) -> str:
    """Every text child, in order (a string may sit in a list next to an icon)."""
    texts: list[str] = []
    for node in walk(component):
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list) else [children]:
            if isinstance(child, str | int | float):
                texts.append(str(child))
    return " ".join(texts)


WARNING = {
    "id": 7,
    "kind": "health_warning",
    "actor": "processor",
    "at": "2026-12-03T19:00:00+00:00",
    "details": {
        "check": "gpu_idle",
        "step": 140,
        "message": "GPU utilization 9% has been below 30% for 30 points.",
        "evidence": {"gpu_utilization": 9.0, "threshold": 30.0, "points": 30},
        "action": "warn",
    },
}


def test_a_warning_shows_title_step_evidence_and_stop_now_only_while_running() -> None:
    (running,) = health_alerts([(WARNING, "GPU utilization low")], running=True) or []
    text = text_of(running)
    assert "GPU utilization low" in text
    assert "at step 140" in text
    assert "Gpu utilization" in text
    assert "Stop now" in text
    (finished,) = health_alerts([(WARNING, "GPU utilization low")], running=False) or []
    assert "Stop now" not in text_of(finished)
    assert health_alerts([], running=True) is None


def test_the_activity_log_reads_the_warning_as_a_sentence() -> None:
    sentence = event_sentence(WARNING, {"status": "running"})
    assert sentence.startswith("Health warning at step 140: GPU utilization 9%")


def test_configuration_rows_list_every_check_with_its_thresholds() -> None:
    rows = dict(health_rows(default_health_config()))
    assert rows["Exploding training loss"] == "warn · factor 3 · steps 3"
    assert rows["Non-finite loss"] == "warn"
    assert len(rows) == 7
