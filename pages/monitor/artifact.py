"""The monitor's trained-adapter card: drawn when the job is (or becomes) completed.

Its own callback on the view state the render and tick callbacks already write, so it runs on
the first load and again when the status changes; a running job's page never reads artifacts.
"""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback

from components.artifact_view import artifact_card
from pages.monitor.data import read_artifact
from pages.monitor.layout import ARTIFACT, JOB_ID, VIEW_STATE


@callback(Output(ARTIFACT, "children"), Input(VIEW_STATE, "data"), State(JOB_ID, "data"))
def show_artifact(view_state: dict[str, Any] | None, job_id: str | None) -> Any:
    # The store is the page's own, but a crafted callback request can put any JSON there.
    if not isinstance(view_state, dict) or view_state.get("status") != "completed":
        return None
    return artifact_card(read_artifact(job_id))
