"""`/training/jobs`: the signed-in user's training jobs."""

from __future__ import annotations

import dash
from dash import html

dash.register_page(__name__, path="/training/jobs", name="Jobs", title="Jobs · PIPELINE", nav_order=1)


def layout(**_query: str) -> html.Div:
    return html.Div([html.H1("Training jobs", className="h3")], id="jobs-page")
