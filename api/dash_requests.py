"""A malformed request to Dash's callback endpoint gets 400 `{error, details}`, not a 500.

Dash reads `POST /_dash-update-component` as trusted renderer output (`body["output"]`,
`ii["property"]`, one value per declared input): an empty or mis-shaped body from a script, a
fuzzer or a tab left open across a deploy that renamed a callback raised KeyError, TypeError or
IndexError inside Dash and was logged as a server error. The body is checked here, before Dash
dispatches, against the callback it names. The renderer always sends a well-formed body, so pages
never meet this check. Values are checked against the type the component declares for the
property (api/dash_prop_types.py): a list as `n_clicks` or an object as an upload's `contents` is a
400 here, not a TypeError inside the callback. What a type allows (a store's free-form `data`) is the
callback's own business. A clientside callback has no server side: naming one is a 400 too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import Dash
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from api.dash_prop_types import PropTypes
from api.errors import error_response

MALFORMED = "Malformed callback request"


def _dependency(item: object) -> bool:
    """One input, state or output as the renderer sends it: `{"id": str | dict, "property": str}`."""
    return (
        isinstance(item, dict)
        and isinstance(item.get("id"), str | dict)
        and isinstance(item.get("property"), str)
    )


def _expands(declared_id: str) -> bool:
    """Whether a declared id is a wildcard (ALL, ALLSMALLER): the renderer then sends a list."""
    return declared_id.startswith("{") and ('["ALL"]' in declared_id or '["ALLSMALLER"]' in declared_id)


def _matches(item: object, declared_id: str) -> bool:
    """A dependency for a plain or MATCH id; for a wildcard id, the list it expands to."""
    if _expands(declared_id):
        return isinstance(item, list) and all(_dependency(each) for each in item)
    return _dependency(item)


def _dependencies(items: object, declared: list[str]) -> bool:
    return (
        isinstance(items, list)
        and len(items) == len(declared)
        and all(_matches(item, declared_id) for item, declared_id in zip(items, declared, strict=True))
    )


def _outputs(outputs: object, key: str) -> bool:
    if key.startswith(".."):  # several outputs: "..a.children...b.value.."
        return _dependencies(outputs, [part.rsplit(".", 1)[0] for part in key[2:-2].split("...")])
    return _matches(outputs, key.rsplit(".", 1)[0])


def _values_problem(items: list[Any], where: str, types: PropTypes) -> str | None:
    """The first value whose type its component does not declare for the property, or None."""
    for index, item in enumerate(items):
        for dependency in item if isinstance(item, list) else [item]:
            problem = types.problem(dependency["id"], dependency["property"], dependency.get("value"))
            if problem is not None:
                return f"'{where}[{index}]': {problem}."
    return None


def callback_problem(
    body: object, callbacks: Mapping[str, Mapping[str, Any]], types: PropTypes | None = None
) -> str | None:
    """Why `body` is not a request Dash can dispatch to one of `callbacks`; None when it is."""
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    key = body.get("output")
    if not isinstance(key, str) or key not in callbacks or "callback" not in callbacks[key]:
        return "'output' names no callback of this app; reload the page."
    spec = callbacks[key]
    inputs, state = [d["id"] for d in spec["inputs"]], [d["id"] for d in spec["state"]]
    if not _dependencies(body.get("inputs"), inputs):
        return f"'inputs' must list the callback's {len(inputs)} input(s), each with an id and a property."
    if not _dependencies(body.get("state", []), state):
        return (
            f"'state' must list the callback's {len(state)} state value(s), each with an id and a property."
        )
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(prop, str) for prop in changed):
        return "'changedPropIds' must be a list of 'id.property' strings."
    if not spec.get("no_output") and not _outputs(body.get("outputs"), key):
        return "'outputs' must match the callback's outputs, each with an id and a property."
    if types is not None:
        return _values_problem(body["inputs"], "inputs", types) or _values_problem(
            body.get("state", []), "state", types
        )
    return None


def init_dash_requests(app: Dash) -> None:
    """Check every callback request before Dash dispatches it (after the sign-in guard, which runs
    first so that an anonymous request is still a 401)."""
    path = f"{app.config.routes_pathname_prefix}_dash-update-component"
    known: dict[int, PropTypes] = {}  # per validation layout: Dash builds it once, at the first request

    def prop_types() -> PropTypes:
        layout = app.validation_layout
        if id(layout) not in known:
            known.clear()
            known[id(layout)] = PropTypes.of_layout(layout)
        return known[id(layout)]

    def refuse_malformed_callback() -> BaseResponse | None:
        if request.method != "POST" or request.path != path:
            return None
        # get_json answers a non-JSON body itself (400, or 415 without the JSON content type).
        problem = callback_problem(request.get_json(), app.callback_map, prop_types())
        return None if problem is None else error_response(400, MALFORMED, problem)

    app.server.before_request(refuse_malformed_callback)
