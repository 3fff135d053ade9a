"""The strict decoder every request body passes through (contract/strict_json.py)."""

from __future__ import annotations

import json

import pytest

from contract.strict_json import MAX_DEPTH, MAX_INT_DIGITS, JsonInputError, loads, text_problem


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("[" * 2000 + "]" * 2000, "nested more than"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested more than"),
        ('{"a": ' + "9" * 4000 + "}", f"more than {MAX_INT_DIGITS} digits"),
        ("9" * 5000, f"more than {MAX_INT_DIGITS} digits"),
        ('{"name": "a\\u0000b"}', "NUL"),
        ('{"a\\u0000": 1}', "NUL"),
        ('["\\ud800"]', "lone surrogate"),
        ("{not json", "not valid JSON"),
        (b'"\xff"', "not UTF-8"),
    ],
)
def test_refused_with_the_reason(raw: str | bytes, reason: str) -> None:
    with pytest.raises(JsonInputError, match=reason):
        loads(raw)


def test_accepted_values_decode_as_json_does() -> None:
    body = {
        "id": 2**63 - 1,
        "neg": -(10**19),
        "emoji": "\U0001f600 é",
        "pair": "\ud83d\ude00",
        "deep": json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)),  # the body is level one
    }
    assert loads(json.dumps(body)) == json.loads(json.dumps(body))
    assert loads('"\\ud83d\\ude00"') == "\U0001f600"  # an escaped surrogate *pair* is one character


def test_text_check_can_be_left_to_the_caller() -> None:
    assert loads('"a\\u0000"', check_text=False) == "a\x00"


def test_text_problem() -> None:
    assert text_problem("plain") is None
    assert text_problem("naïve 漢字") is None
    assert text_problem("a\x00") == "contains a NUL character"
    assert text_problem("a\udc80") == "contains a lone surrogate (broken Unicode)"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_bad_text_is_refused_in_bytes_of_any_encoding_json_reads(encoding: str) -> None:
    """The fast path (no escape in the body: strings not walked) never lets NUL or a lone surrogate by."""
    for body in ('{"a": ["ok", {"b": "x\\u0000"}]}', '["\\ud800"]'):
        with pytest.raises(JsonInputError, match="text value"):
            loads(body.encode(encoding))
    assert loads('{"a": ["naïve", {"b": "\\\\u0000 is only text"}]}'.encode(encoding)) == {
        "a": ["naïve", {"b": "\\u0000 is only text"}]
    }


def test_depth_is_checked_when_no_string_is_walked() -> None:
    deep = ("[" * 65 + "]" * 65).encode()
    with pytest.raises(JsonInputError, match="nested more than 64 deep"):
        loads(deep)
    assert loads(("[" * 64 + "]" * 64).encode()) is not None
