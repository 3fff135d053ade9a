"""The loss charts' controls, one builder each, shared by the monitor and the comparison page:
the smoothing slider and the segmented toggles (linear/log, what the x-axis measures).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.aria import aria

DEFAULT_SMOOTHING = 0.6


def segmented(component_id: str, label: str, choices: list[tuple[str, str]], value: str) -> html.Div:
    """A small segmented button group (radio inputs underneath, so keyboard and screen readers work)."""
    return html.Div(
        dbc.RadioItems(
            id=component_id,
            options=[{"label": text, "value": choice} for text, choice in choices],
            value=value,
            inline=True,
            className="btn-group btn-group-sm",
            inputClassName="btn-check",
            labelClassName="btn btn-outline-secondary",
            labelCheckedClassName="active",
        ),
        role="group",
        className="monitor-control",
        **aria(label),
    )


def smoothing_slider(component_id: str, value: float = DEFAULT_SMOOTHING) -> html.Div:
    """The EMA weight (components/smoothing.py), 0 to 0.99, applied on release."""
    return html.Div(
        [
            dbc.Label("Smoothing", html_for=component_id, className="small mb-0 me-2"),
            html.Div(
                dcc.Slider(
                    id=component_id,
                    min=0,
                    max=0.99,
                    step=0.01,
                    value=value,
                    marks={0: "0", 0.5: "0.5", 0.99: "0.99"},
                    tooltip={"placement": "bottom", "always_visible": False},
                    updatemode="mouseup",
                ),
                className="monitor-slider",
            ),
        ],
        className="d-flex align-items-center monitor-control",
    )


def y_scale_toggle(component_id: str) -> html.Div:
    return segmented(component_id, "Loss axis scale", [("Linear", "linear"), ("Log", "log")], "linear")
