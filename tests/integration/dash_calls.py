"""Call a page's Dash callback through the real endpoint, the way the browser's renderer does.

For tests that need a callback's server side (ownership, storage) without a browser.
"""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient


def _parse_output(part: str) -> dict[str, Any]:
    component, prop = part.rsplit(".", 1)
    return {"id": json.loads(component) if component.startswith("{") else component, "property": prop}


def _dom(component_id: Any) -> str:
    if isinstance(component_id, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(k)}:{json.dumps(component_id[k])}" for k in sorted(component_id))
            + "}"
        )
    return str(component_id)


def call(
    client: FlaskClient,
    app: Any,
    function: str,
    inputs: list[Any],
    state: list[Any] | None = None,
    outputs: Any = None,
) -> Any:
    """POST one callback the way the renderer does; `function` names the page's callback.

    Outputs are read from the callback's key unless given (wildcard outputs must be listed
    concretely, one entry per matching component, as the renderer does)."""
    client.get("/training/jobs")  # the first request makes Dash collect the pages' callbacks
    key = next(
        k for k, v in app.callback_map.items() if getattr(v.get("callback"), "__name__", "") == function
    )
    if outputs is None:
        parts = key.strip(".").split("...")
        outputs = [_parse_output(p) for p in parts] if key.startswith("..") else _parse_output(key)
    first = inputs[0][0] if isinstance(inputs[0], list) else inputs[0]
    body = {
        "output": key,
        "outputs": outputs,
        "inputs": inputs,
        "state": state or [],
        "changedPropIds": [f"{_dom(first['id'])}.{first['property']}"],
    }
    return client.post("/_dash-update-component", json=body)
