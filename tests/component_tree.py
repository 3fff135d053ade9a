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


def find_props(node: Any, component_id: str) -> dict[str, Any] | None:
    """The props of component `component_id` in a layout's JSON (what a Dash request answers), or None."""
    if isinstance(node, list):
        return next((found for child in node if (found := find_props(child, component_id))), None)
    if not isinstance(node, dict):
        return None
    props = node.get("props", {})
    if props.get("id") == component_id:
        return props
    return find_props(props.get("children"), component_id)
