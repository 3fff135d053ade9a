"""Reading what a callback payload carries back from the page: pattern-matching ids and store data.

The page put these values there, but the callback endpoint accepts any body from anyone signed in,
so a crafted request can carry a list where the page stored an id. Component properties are checked
against their declared types before dispatch (api/dash_prop_types.py); a store's `data` and the keys
of a pattern-matching id are free-form, so callbacks read them through these helpers.
"""

from __future__ import annotations

BIGINT_MAX = 2**63 - 1


def payload_id(value: object) -> int | None:
    """A database id from the payload (an int, or its digits as text), or None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and 0 < value <= BIGINT_MAX:
        return value
    return None
