"""Dataset upload validation: seconds for a 200 MB file of any shape, against the old scanner.

    .venv/bin/python -m benchmarks.upload_scan [--mb 200] [--naive-mb 10 20 40]

Runs services/dataset_files.validate_and_store (the code the API and the page call) on files held
in memory, written to a temporary folder as an upload is. Shapes, each about `--mb` megabytes:

- one line (a single huge JSON object): refused at the line cap, in linear time;
- lines of 1 MB, of 1 KB and of 40 bytes (the per-line cost of tiny lines is what dominates).

The naive baseline is the scanner before the fix, reproduced below: it joined the pending tail of
a line to every 64 KB chunk (`(pending + chunk).split(b"\\n")`), copying a long line once per read,
so a line of n bytes cost O(n²/64 KB). It runs on single lines of `--naive-mb` sizes only: at
80 MB it took 71 s. Printed: seconds and MB/s per shape; the ratio against the baseline is the
comparison (the machine is shared, absolute figures are pessimistic).
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import IO

from services import dataset_files
from services.dataset_files import CHUNK_BYTES, DatasetReport, validate_and_store
from services.errors import ValidationError

MB = 1024 * 1024


def one_line(size: int) -> bytes:
    return json.dumps({"prompt": "p" * (size - 40), "completion": "c"}).encode() + b"\n"


def lines_of(size: int, line_bytes: int) -> bytes:
    line = json.dumps({"prompt": "p" * max(line_bytes - 34, 1), "completion": "c"}).encode() + b"\n"
    return line * max(size // len(line), 1)


def naive_scan(source: IO[bytes], out: IO[bytes], report: DatasetReport, max_bytes: int) -> None:
    """The scanner before the fix (services/dataset_files.py at 90b70af), verbatim but for names."""
    line_number = 0
    pending = b""
    while True:
        chunk = source.read(CHUNK_BYTES)
        if chunk:
            report.file_size += len(chunk)
            out.write(chunk)
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop() if chunk else b""
        for raw in lines:
            line_number += 1
            dataset_files._check_into(report, line_number, raw)
        if not chunk:
            return


def timed(run: Callable[[], str]) -> tuple[float, str]:
    started = time.perf_counter()
    outcome = run()
    return time.perf_counter() - started, outcome


def validate(content: bytes, folder: Path, max_line_bytes: int) -> str:
    try:
        report = validate_and_store(
            io.BytesIO(content), folder / "d.jsonl", 1 << 40, max_line_bytes=max_line_bytes
        )
    except ValidationError as exc:
        return "refused: " + exc.errors["file"][:70]
    return f"accepted: {report.total_training_pairs:,} examples"


def naive(content: bytes, folder: Path) -> str:
    report = DatasetReport()
    with (folder / "naive.jsonl").open("wb") as out:
        naive_scan(io.BytesIO(content), out, report, 1 << 40)
    return f"{report.total_training_pairs:,} examples, {report.bad_line_count} bad"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="size of each shape (default 200)")
    parser.add_argument("--naive-mb", type=int, nargs="*", default=[10, 20, 40])
    args = parser.parse_args()
    size = args.mb * MB
    cap = dataset_files.MAX_LINE_BYTES
    print(f"validate_and_store, {args.mb} MB per shape, line cap {cap:,} bytes")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shapes = {
            "one line": lambda: one_line(size),
            "1 MB lines": lambda: lines_of(size, MB),
            "1 KB lines": lambda: lines_of(size, 1024),
            "40 B lines": lambda: lines_of(size, 40),
        }
        for name, make in shapes.items():
            content = make()
            seconds, outcome = timed(partial(validate, content, folder, cap))
            rate = len(content) / MB / seconds
            print(f"  {name:11s} {seconds:6.2f} s  {rate:6.0f} MB/s  {outcome}")
        print("one line, new scanner (cap lifted to the line's size) vs the naive baseline:")
        for mb in args.naive_mb:
            content = one_line(mb * MB)
            new, _ = timed(partial(validate, content, folder, len(content)))
            old, _ = timed(partial(naive, content, folder))
            print(f"  {mb:4d} MB line  new {new:6.2f} s   naive {old:7.2f} s   ({old / new:5.0f}x)")


if __name__ == "__main__":
    main()
