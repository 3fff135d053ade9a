"""Callback values against the types Dash components declare (api/dash_prop_types.py)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pytest
from dash import dcc, html

from api.dash_prop_types import PropTypes

LAYOUT = html.Div(
    [
        html.Button(id="go"),
        dcc.Upload(id="up"),
        dcc.Store(id="store"),
        dbc.Input(id={"type": "field", "name": "rank"}),
        dcc.Location(id="_pages_location"),
    ]
)
TYPES = PropTypes.of_layout(LAYOUT)


@pytest.mark.parametrize(
    ("component_id", "prop", "value"),
    [
        ("go", "n_clicks", 3),
        ("go", "n_clicks", None),
        ("up", "contents", "data:text/plain;base64,eA=="),
        ("up", "contents", ["a", "b"]),
        ("store", "data", {"any": ["json", 1]}),  # a store's data is the callback's business
        ({"type": "field", "name": "other"}, "value", "2e-4"),
        ({"type": "field", "name": "rank"}, "value", 16),
        ("unknown", "value", {"x": 1}),  # nothing known: nothing refused
        ("_pages_location", "pathname", "/training/jobs"),
    ],
)
def test_accepted(component_id: object, prop: str, value: object) -> None:
    assert TYPES.problem(component_id, prop, value) is None


@pytest.mark.parametrize(
    ("component_id", "prop", "value"),
    [
        ("go", "n_clicks", [1]),
        ("go", "n_clicks", "1"),
        ("go", "n_clicks", True),
        ("up", "contents", {"a": 1}),
        ("up", "contents", [1, 2]),
        ({"type": "field", "name": "rank"}, "value", {"a": 1}),
        ("_pages_location", "pathname", None),
        ("_pages_location", "pathname", "no-leading-slash"),
    ],
)
def test_refused(component_id: object, prop: str, value: object) -> None:
    assert TYPES.problem(component_id, prop, value) is not None
