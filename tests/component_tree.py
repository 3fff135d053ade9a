"""Walking a Dash component tree in unit tests: find what a view function rendered without a browser."""

from __future__ import annotations

from typing import Any


def walk(component: Any) -> list[Any]:
    """Every Dash component in `component` (a component, a list of them, or text), depth first."""
    if isinstance(component, list | tuple):
        return [c for child in component for c in walk(child)]
    if not hasattr(component, "to_plotly_json"):
        return []
    return [component, *walk(getattr(component, "children", None))]
