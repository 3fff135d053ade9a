"""Fetching the job's dataset from its signed URL and turning it into (prompt, completion) examples.

Accepts the two JSONL shapes PIPELINE's dataset upload validates: `{"prompt", "completion"}` and
`{"messages": [{"role", "content"}, ...]}` (the last assistant message is the completion). Errors say
what went wrong in words a user can act on: an expired link, an unreachable host, line 17 bad.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx

MAX_DATASET_BYTES = 200 * 1024 * 1024


class DatasetError(RuntimeError):
    """The dataset could not be downloaded or is not usable for training."""


@dataclass(frozen=True)
class Example:
    prompt: str
    completion: str


def download_dataset(url: str, *, timeout_seconds: float = 60.0) -> bytes:
    """The dataset's bytes from an http(s) signed URL, a file:// URL or a local path."""
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https"):
        return _download_http(url, timeout_seconds)
    path = Path(url2pathname(urlsplit(url).path)) if scheme == "file" else Path(url)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read dataset file {path}: {exc.strerror or exc}") from exc


def _download_http(url: str, timeout_seconds: float) -> bytes:
    shown = url.split("?", 1)[0]  # never echo the signature into logs or the job's error text
    try:
        with httpx.stream("GET", url, timeout=timeout_seconds, follow_redirects=True) as response:
            if response.status_code in (401, 403):
                raise DatasetError(
                    f"dataset download refused (HTTP {response.status_code}) for {shown}: the signed "
                    "URL is invalid or has expired; resubmit the job to get a fresh link"
                )
            if response.status_code == 404:
                raise DatasetError(f"dataset not found (HTTP 404) at {shown}")
            if response.is_error:
                raise DatasetError(f"dataset download failed with HTTP {response.status_code} from {shown}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_DATASET_BYTES:
                    raise DatasetError(f"dataset at {shown} is larger than {MAX_DATASET_BYTES} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise DatasetError(f"cannot download the dataset from {shown}: {type(exc).__name__}: {exc}") from exc
    return b"".join(chunks)


def _example(row: object, line_number: int) -> Example:
    if (
        isinstance(row, dict)
        and isinstance(row.get("prompt"), str)
        and isinstance(row.get("completion"), str)
    ):
        return Example(row["prompt"], row["completion"])
    messages = row.get("messages") if isinstance(row, dict) else None
    if isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages):
        last = messages[-1]
        if last.get("role") == "assistant" and isinstance(last.get("content"), str):
            prompt = "\n".join(f"{m.get('role')}: {m.get('content')}" for m in messages[:-1])
            return Example(prompt + "\nassistant:", " " + last["content"])
    raise DatasetError(
        f"dataset line {line_number}: expected {{prompt, completion}} or {{messages}} ending with an "
        "assistant message"
    )


def parse_examples(data: bytes) -> list[Example]:
    """Every non-blank JSONL line as an Example; the first bad line stops parsing with its number."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"dataset is not UTF-8 text (byte {exc.start})") from exc
    examples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"dataset line {number} is not valid JSON: {exc.msg}") from exc
        examples.append(_example(row, number))
    if len(examples) < 2:
        raise DatasetError(
            f"dataset has {len(examples)} example(s); at least 2 are needed to train and validate"
        )
    return examples


def split_validation(
    examples: list[Example], fraction: float, *, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """A seeded shuffle, then at least one example held out for validation and at least one to train."""
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    held_out = min(max(1, round(len(shuffled) * fraction)), len(shuffled) - 1)
    return shuffled[held_out:], shuffled[:held_out]
