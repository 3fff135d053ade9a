"""A job request's `health_checks`: validated against catalog/health_checks.py, stored complete.

`{"exploding_loss": {"factor": 4, "action": "stop"}}` changes one check; every check and threshold
not given keeps its catalogue default, so the stored object always lists them all (the API's job
object and the monitor's Configuration tab show what will run).
"""

from __future__ import annotations

import math
from typing import Any

from catalog.health_checks import ACTIONS, CHECKS_BY_ID, HealthParameter, default_health_config


def parse_health_checks(value: Any, errors: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The job's complete health settings; one `errors` entry per bad field, keyed
    `health_checks.<check>.<parameter>` (None or absent: every default)."""
    config = default_health_config()
    if value is None:
        return config
    if not isinstance(value, dict):
        errors["health_checks"] = "must be an object keyed by check id"
        return config
    for check_id, given in value.items():
        check = CHECKS_BY_ID.get(check_id)
        where = f"health_checks.{check_id}"
        if check is None:
            errors[where] = f"unknown check; choose from {', '.join(CHECKS_BY_ID)}"
            continue
        if not isinstance(given, dict):
            errors[where] = "must be an object"
            continue
        parameters = {parameter.name: parameter for parameter in check.parameters}
        for name, raw in given.items():
            if name == "action":
                if raw not in ACTIONS:
                    errors[f"{where}.action"] = f"must be one of {', '.join(ACTIONS)}"
                else:
                    config[check_id]["action"] = raw
            elif name in parameters:
                checked = _threshold(parameters[name], raw, f"{where}.{name}", errors)
                if checked is not None:
                    config[check_id][name] = checked
            else:
                errors[f"{where}.{name}"] = "unknown field"
    return config


def _threshold(
    parameter: HealthParameter, raw: Any, field: str, errors: dict[str, str]
) -> float | int | None:
    if raw is None:
        return None  # not given: the default stays
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        errors[field] = "must be a finite number"
        return None
    if parameter.integer and not float(raw).is_integer():
        errors[field] = "must be a whole number"
        return None
    if not parameter.low <= raw <= parameter.high:
        errors[field] = f"must be from {parameter.low:g} to {parameter.high:g}"
        return None
    return int(raw) if parameter.integer else float(raw)
