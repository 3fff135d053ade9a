"""Checking and storing an uploaded JSONL dataset, line by line, without holding it in memory.

Two line shapes are accepted (one per file): `{"prompt": str, "completion": str}` or
`{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}` with at least one user
and one assistant message. Every line is checked; the report names the first bad lines and why,
so a user can fix a 200 MB file without guessing.

The scan is linear in the file's size whatever its shape: a line is kept as a list of pieces and
joined once, when its newline arrives, and a line longer than `max_line_bytes` is not kept at all
(its bytes still go to the copy; the report names it). Joining the pending tail to every new chunk
instead copied a long line once per 64 KB read: one 80 MB line took 71 s (benchmarks/upload_scan.py).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from services.errors import TooLarge, ValidationError

PROMPT_COMPLETION = "prompt_completion"
CHAT = "chat"
ROLES = frozenset({"system", "user", "assistant"})
PROMPT_COMPLETION_KEYS = frozenset({"prompt", "completion"})
MAX_REPORTED_ERRORS = 10
CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text with BPE tokenizers
CHUNK_BYTES = 1 << 16
MAX_LINE_BYTES = 8 * 1024 * 1024  # MAX_DATASET_LINE_BYTES' default: far beyond any model's context
DATASETS_BUCKET = "datasets"


@dataclass
class DatasetReport:
    """What validation learnt: format, counts, and the first bad lines (line number, reason)."""

    format: str | None = None
    total_training_pairs: int = 0
    total_tokens: int = 0
    file_size: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    bad_line_count: int = 0

    def add_error(self, line_number: int, reason: str) -> None:
        self.bad_line_count += 1
        if len(self.bad_lines) < MAX_REPORTED_ERRORS:
            self.bad_lines.append((line_number, reason))


def estimate_tokens(text_chars: int) -> int:
    return -(-text_chars // CHARS_PER_TOKEN)  # ceil, in integers


def _check_prompt_completion(record: dict[str, object]) -> tuple[str | None, int]:
    prompt, completion = record.get("prompt"), record.get("completion")
    if (  # the common case first, in as few operations as possible (a file may hold millions)
        len(record) == 2
        and isinstance(prompt, str)
        and isinstance(completion, str)
        and prompt
        and completion
        and not prompt.isspace()
        and not completion.isspace()
    ):
        return None, len(prompt) + len(completion)
    extra = set(record) - PROMPT_COMPLETION_KEYS
    if extra:
        return f"unknown field(s) {', '.join(sorted(extra))}", 0
    bad = "prompt" if not isinstance(prompt, str) or not prompt or prompt.isspace() else "completion"
    return f"'{bad}' must be non-empty text", 0


def _check_chat(record: dict[str, object]) -> tuple[str | None, int]:
    extra = set(record) - {"messages"}
    if extra:
        return f"unknown field(s) {', '.join(sorted(extra))}", 0
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list", 0
    chars = 0
    roles: set[str] = set()
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            return f"messages[{index}] must be an object with exactly 'role' and 'content'", 0
        role, content = message["role"], message["content"]
        if role not in ROLES:
            return f"messages[{index}].role must be one of system, user, assistant", 0
        if not isinstance(content, str) or not content or content.isspace():
            return f"messages[{index}].content must be non-empty text", 0
        roles.add(role)
        chars += len(content)
    if not {"user", "assistant"} <= roles:
        return "'messages' needs at least one user and one assistant message", 0
    return None, chars


# json's C scanner, called directly: one value at an index, without json.loads' Python wrapper
# (encoding detection, two whitespace regexes), which costs more than decoding a short line does.
# A line it does not take whole goes through json.loads, for the precise error (or padding).
_scan_value = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set in __init__, unstubbed


def check_line(raw: bytes) -> tuple[str | None, str | None, int]:
    """(format, error, text characters) of one JSONL line; format is None when the line is bad."""
    try:
        text = raw.decode("utf-8")
        try:
            record, end = _scan_value(text, 0)
        except (StopIteration, ValueError):
            end = -1
        if end != len(text):
            record = json.loads(text)
    except UnicodeDecodeError:
        return None, "not UTF-8 text", 0
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg})", 0
    except ValueError:  # e.g. integers beyond Python's digit limit
        return None, "not valid JSON", 0
    except RecursionError:  # the C decoder recurses per nesting level; no line of ours nests past 4
        return None, "not valid JSON (nested too deep)", 0
    if not isinstance(record, dict):
        return None, "must be a JSON object", 0
    if "messages" in record:
        error, chars = _check_chat(record)
        return (None if error else CHAT), error, chars
    if "prompt" in record or "completion" in record:
        error, chars = _check_prompt_completion(record)
        return (None if error else PROMPT_COMPLETION), error, chars
    return None, "needs 'prompt' and 'completion', or 'messages'", 0


def validate_and_store(
    source: IO[bytes], destination: Path, max_bytes: int, *, max_line_bytes: int = MAX_LINE_BYTES
) -> DatasetReport:
    """Copy `source` to `destination` while checking every line; remove the copy on any failure.

    Raises:
        TooLarge: more than `max_bytes`.
        ValidationError: empty file, a bad line (one longer than `max_line_bytes` included), or
            lines of both formats (field `file`).
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    report = DatasetReport()
    partial = destination.with_suffix(".part")
    try:
        with partial.open("wb") as out:
            _scan(source, out, report, max_bytes, max_line_bytes)
        _raise_if_invalid(report)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return report


def _scan(source: IO[bytes], out: IO[bytes], report: DatasetReport, max_bytes: int, max_line: int) -> None:
    line_number = 0
    pending: list[bytes] = []  # the current line's pieces so far, joined once when it ends
    pending_size = 0
    too_long = False  # the current line passed `max_line`: its pieces are no longer kept
    while chunk := source.read(CHUNK_BYTES):
        report.file_size += len(chunk)
        if report.file_size > max_bytes:
            raise TooLarge("Dataset too large", f"The file is larger than the {max_bytes:,}-byte limit.")
        out.write(chunk)
        *ended, tail = chunk.split(b"\n")
        for piece in ended:
            line_number += 1
            if pending or too_long:  # the line began in an earlier chunk
                if too_long or pending_size + len(piece) > max_line:
                    report.add_error(line_number, _too_long(max_line))
                else:
                    _check_into(report, line_number, b"".join((*pending, piece)))
                pending, pending_size, too_long = [], 0, False
            elif len(piece) > max_line:
                report.add_error(line_number, _too_long(max_line))
            else:
                _check_into(report, line_number, piece)
        if too_long or pending_size + len(tail) > max_line:
            pending, too_long = [], True
        elif tail:
            pending.append(tail)
            pending_size += len(tail)
    if too_long:
        report.add_error(line_number + 1, _too_long(max_line))
    elif pending:
        _check_into(report, line_number + 1, b"".join(pending))


def _too_long(max_line: int) -> str:
    return f"longer than the {max_line:,}-byte limit for one line"


def _check_into(report: DatasetReport, line_number: int, raw: bytes) -> None:
    if not raw or raw.isspace():
        return  # blank lines (a trailing newline, spacing) carry no example
    line_format, error, chars = check_line(raw)
    if error is not None or line_format is None:
        report.add_error(line_number, error or "invalid")
        return
    if report.format is None:
        report.format = line_format
    elif line_format != report.format:
        report.add_error(
            line_number, f"uses the {line_format} format but the file started as {report.format}"
        )
        return
    report.total_training_pairs += 1
    report.total_tokens += estimate_tokens(chars)


def _raise_if_invalid(report: DatasetReport) -> None:
    if report.bad_lines:
        first = "; ".join(f"line {number}: {reason}" for number, reason in report.bad_lines)
        more = report.bad_line_count - len(report.bad_lines)
        suffix = f" (and {more} more bad lines)" if more > 0 else ""
        raise ValidationError(
            {"file": f"{report.bad_line_count} bad line(s). {first}{suffix}"}, "Invalid dataset file"
        )
    if report.total_training_pairs == 0:
        raise ValidationError({"file": "the file has no examples"}, "Invalid dataset file")


def new_storage_path(user_id: int) -> str:
    """`<user_id>/<random>.jsonl`: unguessable and never derived from the user's file name."""
    return f"{user_id}/{uuid.uuid4().hex}.jsonl"


def storage_file(data_dir: Path, storage_path: str) -> Path | None:
    """The file for `storage_path` under DATA_DIR/datasets, or None if it would escape that folder."""
    root = (data_dir / DATASETS_BUCKET).resolve()
    candidate = (root / storage_path).resolve()
    if not candidate.is_relative_to(root) or candidate == root:
        return None
    return candidate
