"""Which values a callback input may carry, read from Dash's own component annotations.

Every Dash component declares its properties' types in its constructor (`dcc.Upload(contents:
str | Sequence[str] | None)`, `html.Button(n_clicks: SupportsFloat | ... | None)`). The renderer
always sends values of those types; a crafted request to `/_dash-update-component` may send a list
as `n_clicks` or an object as an upload's `contents`, which a callback then passes to `int()` or
`str.partition` (a 500). `PropTypes` maps each (id, property) of the app's layouts, from the
validation layout Dash builds out of every page, to the annotation, and `accepts` refuses only what
the annotation positively excludes: an unknown id, a property without a plain annotation, or a
store's free-form `data` stays the callback's business.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Any

_NUMBER_PROTOCOLS = (typing.SupportsFloat, typing.SupportsInt, typing.SupportsComplex)
_UNKNOWN = object()


def _browser_pathname(value: object) -> bool:
    return isinstance(value, str) and value.startswith("/")


# Narrower than the component declares, because Dash itself needs it: its page router passes the
# location's pathname to fnmatch and strips the app's prefix from it, so `None` (which dcc.Location
# allows) or a path without the leading "/" (which no browser sends) raise inside Dash.
NARROWED: dict[tuple[str, str], Callable[[object], bool]] = {
    ("_pages_location", "pathname"): _browser_pathname
}


def id_key(component_id: object) -> str | None:
    """How a component id is looked up: the string itself, or a pattern-matching id's `type`."""
    if isinstance(component_id, str):
        return component_id
    if isinstance(component_id, dict) and isinstance(component_id.get("type"), str):
        return f"type:{component_id['type']}"
    return None


class PropTypes:
    """(id key, property) → the annotations of the components that carry it."""

    def __init__(self, components: Iterable[Any]) -> None:
        self._types: dict[tuple[str, str], list[Any]] = {}
        for component in components:
            key = id_key(getattr(component, "id", None))
            if key is None:
                continue
            parameters = inspect.signature(type(component).__init__).parameters
            for prop in getattr(component, "_prop_names", ()):
                annotation = parameters[prop].annotation if prop in parameters else _UNKNOWN
                self._types.setdefault((key, prop), []).append(annotation)

    @classmethod
    def of_layout(cls, layout: Any) -> PropTypes:
        return cls(layout._traverse() if layout is not None else ())

    def problem(self, component_id: object, prop: str, value: object) -> str | None:
        """Why `value` cannot be this property's value, or None (also when nothing is known)."""
        key = id_key(component_id)
        if key is None:
            return None
        narrowed = NARROWED.get((key, prop))
        annotations = self._types.get((key, prop))
        if narrowed is not None:
            if narrowed(value):
                return None
        elif not annotations or any(accepts(annotation, value) for annotation in annotations):
            return None
        return f"{prop!r} of {key!r} cannot be {type(value).__name__} {_preview(value)}"


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def accepts(annotation: Any, value: object) -> bool:
    """False only when `annotation` (a component's property type) certainly excludes `value`."""
    if annotation is _UNKNOWN or annotation is inspect.Parameter.empty or annotation is Any:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return accepts(typing.get_args(annotation)[0], value)
    if origin is typing.Union or origin is types.UnionType:
        return any(accepts(option, value) for option in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation in _NUMBER_PROTOCOLS:
        return type(value) in (int, float)
    if annotation in (str, bool, dict, list):
        return type(value) is annotation
    if origin in (list, Sequence) or annotation is Sequence:
        if not isinstance(value, list):
            return False
        element = typing.get_args(annotation)
        return not element or all(accepts(element[0], each) for each in value)
    if origin is dict:
        return isinstance(value, dict)
    return True  # component trees, TypedDicts, anything else: not ours to judge here
