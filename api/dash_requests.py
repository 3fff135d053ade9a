"""A malformed request to Dash's callback endpoint gets 400 `{error, details}`, not a 500.

Dash reads `POST /_dash-update-component` as trusted renderer output (`body["output"]`,
`ii["property"]`, one value per declared input): an empty or mis-shaped body from a script, a
fuzzer or a tab left open across a deploy that renamed a callback raised KeyError, TypeError or
IndexError inside Dash and was logged as a server error. The body is checked here, before Dash
dispatches, against the callback it names. The renderer always sends a well-formed body, so pages
never meet this check; the values themselves are the callbacks' business.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import Dash
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from api.errors import error_response

MALFORMED = "Malformed callback request"


def _dependency(item: object) -> bool:
    """One input, state or output as the renderer sends it: `{"id": str | dict, "property": str}`."""
    return (
        isinstance(item, dict)
        and isinstance(item.get("id"), str | dict)
        and isinstance(item.get("property"), str)
    )


def _one_or_all(item: object) -> bool:
    """A dependency, or the list a wildcard (ALL, ALLSMALLER) expands to."""
    return _dependency(item) or (isinstance(item, list) and all(_dependency(each) for each in item))


def _dependencies(items: object, expected: int) -> bool:
    return isinstance(items, list) and len(items) == expected and all(_one_or_all(i) for i in items)


def _outputs(outputs: object, key: str) -> bool:
    if key.startswith(".."):  # several outputs: "..a.children...b.value.."
        return _dependencies(outputs, len(key[2:-2].split("...")))
    return _one_or_all(outputs)


def callback_problem(body: object, callbacks: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why `body` is not a request Dash can dispatch to one of `callbacks`; None when it is."""
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    key = body.get("output")
    if not isinstance(key, str) or key not in callbacks:
        return "'output' names no callback of this app; reload the page."
    spec = callbacks[key]
    inputs, state = len(spec["inputs"]), len(spec["state"])
    if not _dependencies(body.get("inputs"), inputs):
        return f"'inputs' must list the callback's {inputs} input(s), each with an id and a property."
    if not _dependencies(body.get("state", []), state):
        return f"'state' must list the callback's {state} state value(s), each with an id and a property."
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(prop, str) for prop in changed):
        return "'changedPropIds' must be a list of 'id.property' strings."
    if not spec.get("no_output") and not _outputs(body.get("outputs"), key):
        return "'outputs' must match the callback's outputs, each with an id and a property."
    return None


def init_dash_requests(app: Dash) -> None:
    """Check every callback request before Dash dispatches it (after the sign-in guard, which runs
    first so that an anonymous request is still a 401)."""
    path = f"{app.config.routes_pathname_prefix}_dash-update-component"

    def refuse_malformed_callback() -> BaseResponse | None:
        if request.method != "POST" or request.path != path:
            return None
        # get_json answers a non-JSON body itself (400, or 415 without the JSON content type).
        problem = callback_problem(request.get_json(), app.callback_map)
        return None if problem is None else error_response(400, MALFORMED, problem)

    app.server.before_request(refuse_malformed_callback)
