"""The monitor's trained-adapter card: drawn when the job is (or becomes) completed.

Its own callback on the view state the render and tick callbacks already write, so it runs on
the first load and again when the status changes; a running job's page never reads artifacts.
page.py registers it: Dash executes the page module for every app it builds, whereas this module
is imported once per process, so a decorator here would reach only the first app.
"""

from __future__ import annotations

from typing import Any

from components.artifact_view import artifact_card
from pages.monitor.data import read_artifact


def show_artifact(view_state: dict[str, Any] | None, job_id: str | None) -> Any:
    # The store is the page's own, but a crafted callback request can put any JSON there.
    if not isinstance(view_state, dict) or view_state.get("status") != "completed":
        return None
    return artifact_card(read_artifact(job_id))
