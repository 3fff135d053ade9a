"""Decoding JSON that nobody vouches for (request bodies, Dash callback payloads), and the rule for
text we can store.

Python's `json` accepts what breaks us later: JSON nested 2,000 deep raises RecursionError (not
ValueError) inside the decoder; a 4,000-digit integer decodes, then overflows `float()` and bigint;
`"\\u0000"` and `"\\ud800"` decode to text PostgreSQL refuses (NUL) or psycopg cannot encode (a
lone surrogate). `loads` refuses all of these with `JsonInputError`, a ValueError whose message says
which, so every edge that already turns a ValueError into a 400 does so for these too. The limits are
far beyond anything our pages or API send (docs/security.md). `NaN`, `Infinity` and `1e999` still
decode: each field's own check refuses a non-finite number by name (services/job_config.py).
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64  # our deepest body (a Dash callback's wildcard state) nests about 6
MAX_INT_DIGITS = 20  # a bigint has 19; a browser's numbers stop being exact after 16


class JsonInputError(ValueError):
    """The body is not JSON we accept; the message says why, in words fit for the user."""


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored as text, or None: NUL (PostgreSQL refuses it) or a lone
    surrogate (half a UTF-16 pair: not Unicode text, and not encodable as UTF-8)."""
    if "\x00" in text:
        return "contains a NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (broken Unicode)"
    return None


def _parse_int(digits: str) -> int:
    if len(digits) - digits.startswith("-") > MAX_INT_DIGITS:
        raise JsonInputError(f"a number has more than {MAX_INT_DIGITS} digits")
    return int(digits)


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH, check_text: bool = True) -> Any:
    """The decoded value, refused (JsonInputError) when it is malformed, nested deeper than
    `max_depth`, holds a number beyond reason, or (with `check_text`) text that `text_problem`
    refuses in a string or a key."""
    try:
        value = json.loads(data, parse_int=_parse_int)
    except RecursionError:
        raise JsonInputError(f"nested more than {max_depth} deep") from None
    except UnicodeDecodeError:
        raise JsonInputError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    _check_value(value, max_depth, check_text and _may_hold_bad_text(data))
    return value


def _may_hold_bad_text(data: str | bytes) -> bool:
    """Whether decoded strings could hold NUL or a lone surrogate. JSON refuses raw control
    characters in strings and UTF-8 cannot encode a surrogate, so in UTF-8 bytes only a `\\u` escape
    can make either (UTF-16 and UTF-32 bodies, which `json` also reads, hold NUL bytes: checked in
    full); a str may carry a raw surrogate, which is not ASCII. One C-speed scan of the body spares
    walking every string of a large Dash payload (most of a monitor tick's parsing)."""
    if isinstance(data, bytes | bytearray):
        return b"\\u" in data or b"\x00" in data
    return "\\u" in data or not data.isascii()


def _check_value(value: Any, max_depth: int, check_text: bool) -> None:
    """Walk `value` without recursion (a deep value must not make the check itself recurse);
    strings are visited only when `check_text`, else only the containers, for their depth."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item) if check_text else None
            if problem is not None:
                raise JsonInputError(f"a text value {problem}")
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise JsonInputError(f"nested more than {max_depth} deep")
            children = item.values() if isinstance(item, dict) else item
            if check_text:
                if isinstance(item, dict):
                    pending.extend((key, depth + 1) for key in item)
                pending.extend((each, depth + 1) for each in children)
            else:
                pending.extend((each, depth + 1) for each in children if isinstance(each, dict | list))
