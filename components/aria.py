"""Accessible-name attributes for Dash html components, and the decorative icon.

Dash accepts `aria-*` props only as `**{"aria-label": ...}`; typing them as dict[str, Any] once here
keeps every page type-checked without repeating casts.
"""

from __future__ import annotations

from typing import Any

from dash import html


def aria(label: str | None = None, *, hidden: bool = False, live: str | None = None) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if label is not None:
        attributes["aria-label"] = label
    if hidden:
        attributes["aria-hidden"] = "true"
    if live is not None:
        attributes["aria-live"] = live
    return attributes


def decorative_icon(name: str, extra: str = "") -> html.I:
    """A bootstrap icon (``bi-...``) hidden from screen readers: the text next to it says it."""
    return html.I(className=f"bi {name} {extra}".strip(), **aria(hidden=True))
