"""The one status -> look mapping: the specification's colour and icon per status, and the bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dash import html

from components.job_status import STATUS_LOOKS, progress_style, status_badge
from db.models import JobStatus

STATUS_CSS = Path(__file__).resolve().parents[2] / "assets" / "status.css"


@pytest.mark.parametrize(
    ("status", "icon"),
    [
        ("queued", "bi-clock"),
        ("running", "bi-activity"),
        ("completed", "bi-check-circle"),
        ("failed", "bi-x-circle"),
        ("cancelled", "bi-x-circle"),
    ],
)
def test_badge_has_the_status_class_icon_and_label(status: str, icon: str) -> None:
    badge: Any = status_badge(status)
    assert f"status-look--{status}" in badge.className.split()
    assert "badge" in badge.className.split()
    glyph = badge.children[0]
    assert isinstance(glyph, html.I)
    assert icon in glyph.to_plotly_json()["props"]["className"].split()
    assert glyph.to_plotly_json()["props"]["aria-hidden"] == "true"
    assert badge.children[1] == status.capitalize()
    assert status in badge.title.lower()


def test_initializing_shows_a_spinner_and_unknown_is_gray_with_its_name() -> None:
    spinner = status_badge("initializing").children[0]
    assert "spinner-border" in spinner.className
    assert spinner.to_plotly_json()["props"]["aria-hidden"] == "true"
    weird: Any = status_badge("weird")
    assert "status-look--unknown" in weird.className
    assert weird.children[1] == "Weird"


def test_every_model_status_has_a_look_and_a_colour_rule() -> None:
    assert set(STATUS_LOOKS) == {s.value for s in JobStatus}
    css = STATUS_CSS.read_text()
    for status in STATUS_LOOKS:
        assert f".status-look--{status}" in css
        assert f".status-text--{status}" in css


def test_progress_bar_takes_the_badge_colour_and_moves_only_while_running() -> None:
    assert progress_style("running") == ("status-look--running", True)
    assert progress_style("failed") == ("status-look--failed", False)
    assert progress_style("weird") == ("status-look--unknown", False)
