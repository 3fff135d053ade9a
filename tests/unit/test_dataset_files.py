"""JSONL checking: every line is checked, across read chunks, and a failure leaves no file behind."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from services import dataset_files
from services.dataset_files import check_line, storage_file, validate_and_store
from services.errors import TooLarge, ValidationError


def test_lines_spanning_chunk_boundaries_are_checked_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dataset_files, "CHUNK_BYTES", 7)
    lines = [json.dumps({"prompt": "p" * n, "completion": "c"}) for n in range(1, 30)]
    content = "\n".join(lines).encode()  # no trailing newline: the last line still counts
    report = validate_and_store(io.BytesIO(content), tmp_path / "d.jsonl", max_bytes=10_000)
    assert report.total_training_pairs == 29
    assert report.file_size == len(content)
    assert (tmp_path / "d.jsonl").read_bytes() == content


def test_bad_line_number_counts_blank_lines(tmp_path: Path) -> None:
    content = b'{"prompt": "a", "completion": "b"}\n\n\nnope\n'
    with pytest.raises(ValidationError) as caught:
        validate_and_store(io.BytesIO(content), tmp_path / "d.jsonl", max_bytes=10_000)
    assert "line 4: not valid JSON" in caught.value.errors["file"]
    assert list(tmp_path.iterdir()) == []


def test_too_large_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(TooLarge):
        validate_and_store(io.BytesIO(b"x" * 100), tmp_path / "d.jsonl", max_bytes=99)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("line", "fmt"),
    [
        (b'{"prompt": "a", "completion": "b"}', "prompt_completion"),
        (
            b'{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}',
            "chat",
        ),
        (b'{"prompt": "", "completion": "b"}', None),
        (b'{"messages": []}', None),
        (b'{"messages": [{"role": "user"}]}', None),
        (b'{"text": "x"}', None),
        (b"12", None),
        (b'{"prompt": "a", "completion": "b"', None),
        (b' \t{"prompt": "a", "completion": "b"}\r', "prompt_completion"),  # padding, CRLF files
        (b'{"prompt": "a", "completion": "b"} {}', None),  # a second value on the line
        (b'{"prompt": " ", "completion": "b"}', None),
        (b'{"prompt": "a", "completion": "b", "x": 1}', None),
        (b'{"prompt": "a"}', None),
    ],
)
def test_check_line(line: bytes, fmt: str | None) -> None:
    assert check_line(line)[0] == fmt


def test_storage_file_stays_inside_the_datasets_folder(tmp_path: Path) -> None:
    assert storage_file(tmp_path, "1/abc.jsonl") == (tmp_path / "datasets" / "1" / "abc.jsonl").resolve()
    assert storage_file(tmp_path, "../secret_key") is None
    assert storage_file(tmp_path, "/etc/passwd") is None
    assert storage_file(tmp_path, "") is None


def test_a_line_past_the_cap_is_refused_by_number_and_the_rest_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dataset_files, "CHUNK_BYTES", 16)  # the long line spans many reads
    good = json.dumps({"prompt": "p", "completion": "c"})
    long_line = json.dumps({"prompt": "p" * 500, "completion": "c"})
    content = "\n".join([good, long_line, good, "nope", long_line]).encode()  # the last has no newline
    with pytest.raises(ValidationError) as caught:
        validate_and_store(io.BytesIO(content), tmp_path / "d.jsonl", max_bytes=10_000, max_line_bytes=200)
    message = caught.value.errors["file"]
    assert message.startswith("3 bad line(s).")
    assert "line 2: longer than the 200-byte limit for one line" in message
    assert "line 4: not valid JSON" in message
    assert "line 5: longer than the 200-byte limit" in message
    assert list(tmp_path.iterdir()) == []


def test_a_line_exactly_at_the_cap_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset_files, "CHUNK_BYTES", 5)
    line = json.dumps({"prompt": "p" * 100, "completion": "c"}).encode()
    report = validate_and_store(
        io.BytesIO(line + b"\n" + line), tmp_path / "d.jsonl", max_bytes=10_000, max_line_bytes=len(line)
    )
    assert report.total_training_pairs == 2


def test_a_line_nested_thousands_deep_is_a_bad_line_not_a_crash() -> None:
    deep = b'{"prompt": ' + b"[" * 5000 + b"]" * 5000 + b', "completion": "c"}'
    assert check_line(deep) == (None, "not valid JSON (nested too deep)", 0)
