"""Fetch and check the dataset a job was submitted with, as a real cluster would before training.

The simulated cluster downloads the signed ``dataset_url`` it was given and counts the JSONL rows
(that count drives the number of training steps) and their tokens, the way PIPELINE's upload counts
them (that drives the time a step takes: services/job_timing.py). Any failure becomes a clear job error; the URL
itself is never echoed, because its signature is a credential for the file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from typing import NamedTuple

import aiohttp

from services.dataset_files import check_line, estimate_tokens

MAX_DATASET_BYTES = 256 * 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 60.0


class DatasetSize(NamedTuple):
    rows: int
    tokens: int


_ROW_COUNTS: OrderedDict[str, DatasetSize] = OrderedDict()  # sha256 -> size, most recent last
_ROW_COUNT_CACHE_SIZE = 256


class DatasetProblem(Exception):
    """The dataset cannot be used; the message is the job's error, for the user."""


def count_jsonl_rows(data: bytes) -> DatasetSize:
    """Number of JSON-object lines and their estimated tokens; blank lines are allowed.

    Raises DatasetProblem for a line that is not a JSON object, or no rows at all.
    """
    rows = tokens = 0
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            raise DatasetProblem(f"the dataset is not valid JSONL: line {number} is not JSON") from None
        if not isinstance(value, dict):
            raise DatasetProblem(f"the dataset is not valid JSONL: line {number} is not a JSON object")
        rows += 1
        tokens += estimate_tokens(check_line(line)[2])
    if rows == 0:
        raise DatasetProblem("the dataset is empty: no training examples")
    return DatasetSize(rows, tokens)


async def fetch_dataset_size(session: aiohttp.ClientSession, url: str) -> DatasetSize:
    """Download ``url`` and count its rows and tokens. Raises DatasetProblem with a user-facing message."""
    try:
        timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_SECONDS)
        async with session.get(url, timeout=timeout) as response:
            if response.status != 200:
                raise DatasetProblem(
                    f"could not download the dataset: the dataset URL answered HTTP {response.status}"
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > MAX_DATASET_BYTES:
                    raise DatasetProblem("the dataset is larger than this cluster accepts (256 MiB)")
                chunks.append(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DatasetProblem(f"could not download the dataset: {type(exc).__name__}") from None
    data = b"".join(chunks)
    # Like a real cluster's dataset cache: the same file (by content) is checked once. Benchmarks
    # submit thousands of jobs over one dataset; parsing it each time would dominate the CPU.
    digest = hashlib.sha256(data).hexdigest()
    if digest in _ROW_COUNTS:
        _ROW_COUNTS.move_to_end(digest)
        return _ROW_COUNTS[digest]
    # Parsing a large file is CPU work: keep it off the event loop that answers status polls.
    rows = await asyncio.to_thread(count_jsonl_rows, data)
    _ROW_COUNTS[digest] = rows
    if len(_ROW_COUNTS) > _ROW_COUNT_CACHE_SIZE:
        _ROW_COUNTS.popitem(last=False)
    return rows
