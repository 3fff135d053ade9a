"""Field-by-field validation of cluster answers into the typed results of contract/results.py.

A cluster is outside our control: any single value may be NaN, infinite, a string, negative or out
of range. One bad value must never poison the rest of an answer, and must never reach the database
or a chart, so each field is checked on its own; a bad one is dropped and described in a note.
Only a body whose *shape* is wrong (not an object, no usable status) raises ``ClusterMalformed``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from catalog.metrics import contract_metrics
from contract.results import (
    Artifact,
    CancelResult,
    Checkpoint,
    ClusterJobStatus,
    ClusterMalformed,
    ClusterMetrics,
    JobStatusReport,
    MetricsPoint,
    SubmitResult,
)

# A step count beyond this is not a real LoRA run; treat it as garbage rather than store it.
MAX_STEPS = 100_000_000
MAX_EPOCHS = 100_000
MAX_TEXT = 2_000  # the longest error text we keep from a cluster
MAX_STAGE = 100  # lora_training_jobs.current_stage is VARCHAR(100)
MAX_URI = 1_000  # lora_model_artifacts.storage_uri
MAX_CHECKSUM = 200  # lora_model_artifacts.checksum
# What PostgreSQL or a reader cannot take: NUL (text columns and jsonb refuse it), the other C0/C1
# control characters except tab and newlines, and lone UTF-16 surrogates (not encodable as UTF-8).
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# Which metrics a report carries and their bounds: catalog/metrics.py (`contract_metrics`).
Bounds = tuple[tuple[str, float | None, float | None], ...]


def _number(value: Any, name: str, notes: list[str], low: float | None, high: float | None) -> float | None:
    """A finite float within [low, high], or None with a note. Booleans and strings are not numbers."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        notes.append(f"{name}: dropped non-numeric value {_short(value)}")
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number):
        notes.append(f"{name}: dropped non-finite value {number}")
        return None
    if (low is not None and number < low) or (high is not None and number > high):
        notes.append(f"{name}: dropped out-of-range value {number:g}")
        return None
    return number


def _integer(value: Any, name: str, notes: list[str], high: int) -> int | None:
    """A whole number in [0, high] (2.0 is accepted as 2), or None with a note."""
    number = _number(value, name, notes, 0.0, float(high))
    if number is None:
        return None
    if not number.is_integer():
        notes.append(f"{name}: dropped non-integer value {number:g}")
        return None
    return int(number)


def clean_text(value: str, limit: int = MAX_TEXT) -> str:
    """`value` as storable text: unstorable characters (see `_UNSTORABLE`) removed, at most `limit`
    characters. The one cleaner for text from outside (cluster answers, trainer callbacks, the
    cluster's error messages), applied before anything is stored or logged."""
    return _UNSTORABLE.sub("", value[: limit * 2])[:limit]


def _text(value: Any, name: str, notes: list[str], limit: int = MAX_TEXT) -> str | None:
    """Text cleaned for storage (`clean_text`), noting what was removed or cut; None with a note
    for a value that is not text."""
    if value is None:
        return None
    if not isinstance(value, str):
        notes.append(f"{name}: dropped non-text value {_short(value)}")
        return None
    cleaned = clean_text(value, limit)
    if len(value) > limit:
        notes.append(f"{name}: cut to {limit} characters")
    elif cleaned != value:
        notes.append(f"{name}: removed {len(value) - len(cleaned)} unstorable characters")
    return cleaned


def _timestamp(value: Any, name: str, notes: list[str]) -> datetime | None:
    """An ISO-8601 instant (naive = UTC), or None with a note."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (ValueError, OverflowError):  # OverflowError: year 9999 shifted past UTC's range
            pass
    notes.append(f"{name}: dropped unreadable timestamp {_short(value)}")
    return None


def _short(value: Any) -> str:
    """A bounded, storable description of a refused value (never the repr of a container: a
    2,000-deep one would recurse; never a huge int's digits: past 4,300 repr raises)."""
    if isinstance(value, str):
        text = repr(clean_text(value[:40]))
    elif isinstance(value, int) and abs(value) >= 10**30:
        text = f"<integer of about {value.bit_length() * 3 // 10} digits>"
    elif isinstance(value, int | float | bool):
        text = repr(value)
    else:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 40 else text[:37] + "..."


def metric_bounds() -> Bounds:
    """(name, low, high) of every metric of the contract, read from the catalogue once per report."""
    return tuple((m.name, m.low, m.high) for m in contract_metrics())


def _metric_values(
    raw: dict[str, Any], notes: list[str], prefix: str, bounds: Bounds
) -> dict[str, float | None]:
    """Every metric of the contract: its valid value, or None. Hot path: a poll of 1,000 jobs brings
    ~50k points, so the common case (a finite float in range) is checked inline and only a bad value
    pays for building its note."""
    values: dict[str, float | None] = {}
    for name, low, high in bounds:
        value = raw.get(name)
        kind = type(value)
        if value is None:
            values[name] = None
        elif (
            (kind is float or kind is int)
            and (low is None or low <= value)
            and (high is None or value <= high)
            and value - value == 0  # false for NaN and ±inf
        ):
            values[name] = float(value)
        else:
            values[name] = _number(value, f"{prefix}.{name}", notes, low, high)
    return values


def parse_metrics(raw: Any, notes: list[str], prefix: str = "metrics") -> ClusterMetrics:
    if not isinstance(raw, dict):
        if raw is not None:
            notes.append(f"{prefix}: dropped, not an object")
        raw = {}
    return ClusterMetrics.of_checked(_metric_values(raw, notes, prefix, metric_bounds()))


def _step(value: Any, where: str, notes: list[str], high: int) -> int | None:
    if type(value) is int and 0 <= value <= high:
        return value
    return _integer(value, where, notes, high)


def parse_history(raw: Any, notes: list[str], since_step: int | None) -> tuple[MetricsPoint, ...]:
    """Valid points after ``since_step``, ascending by step, one per step (the first one wins)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        notes.append("metrics_history: dropped, not a list")
        return ()
    after = -1 if since_step is None else since_step
    bounds = metric_bounds()
    points: dict[int, MetricsPoint] = {}
    for index, item in enumerate(raw):
        if type(item) is not dict:
            notes.append(f"metrics_history[{index}]: dropped, not an object")
            continue
        step = _step(item.get("step"), f"metrics_history[{index}].step", notes, MAX_STEPS)
        if step is None:
            notes.append(f"metrics_history[{index}]: dropped, no valid step")
            continue
        if step <= after or step in points:
            continue
        where = f"metrics_history[{index}]"
        epoch = item.get("epoch")
        points[step] = MetricsPoint(
            step,
            None if epoch is None else _step(epoch, f"{where}.epoch", notes, MAX_EPOCHS),
            _timestamp(item.get("timestamp"), f"{where}.timestamp", notes),
            ClusterMetrics.of_checked(_metric_values(item, notes, where, bounds)),
        )
    if all(a < b for a, b in pairwise(points)):
        return tuple(points.values())  # already ascending, as clusters send them
    return tuple(points[step] for step in sorted(points))


def parse_artifact(raw: Any, notes: list[str]) -> Artifact | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("uri"), str) or not raw["uri"]:
        notes.append("artifact: dropped, no uri")
        return None
    uri = _text(raw["uri"], "artifact.uri", notes, MAX_URI)
    if not uri or len(raw["uri"]) > MAX_URI:
        notes.append("artifact: dropped, its uri is not storable")
        return None
    return Artifact(
        uri=uri,
        size_bytes=_integer(raw.get("size_bytes"), "artifact.size_bytes", notes, 2**62),
        checksum=_text(raw.get("checksum"), "artifact.checksum", notes, MAX_CHECKSUM),
    )


MAX_CHECKPOINTS = 1_000  # more than any run saves; a longer list is cut, with a note


def parse_checkpoints(raw: Any, notes: list[str]) -> tuple[Checkpoint, ...]:
    """The optional ``checkpoints`` list: valid entries ascending by step, one per step."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        notes.append("checkpoints: dropped, not a list")
        return ()
    if len(raw) > MAX_CHECKPOINTS:
        notes.append(f"checkpoints: only the first {MAX_CHECKPOINTS} kept")
    found: dict[int, Checkpoint] = {}
    for index, item in enumerate(raw[:MAX_CHECKPOINTS]):
        where = f"checkpoints[{index}]"
        step = _step(item.get("step"), f"{where}.step", notes, MAX_STEPS) if type(item) is dict else None
        if step is None or type(item) is not dict:
            notes.append(f"{where}: dropped, no valid step")
            continue
        found.setdefault(
            step,
            Checkpoint(
                step=step,
                at=_timestamp(item.get("at"), f"{where}.at", notes),
                uri=_text(item.get("uri"), f"{where}.uri", notes, MAX_URI),
            ),
        )
    return tuple(found[step] for step in sorted(found))


def parse_status_value(raw: Any) -> ClusterJobStatus:
    try:
        return ClusterJobStatus(raw)
    except ValueError:
        raise ClusterMalformed(f"the cluster reported an unknown job status {_short(raw)}") from None


def parse_status_report(body: Any, external_job_id: str, since_step: int | None) -> JobStatusReport:
    """Validate a status body. Raises ClusterMalformed only when the shape is unusable."""
    if not isinstance(body, dict):
        raise ClusterMalformed("the cluster's status answer is not a JSON object")
    status = parse_status_value(body.get("status"))
    notes: list[str] = []
    return JobStatusReport(
        external_job_id=external_job_id,
        status=status,
        stage=_text(body.get("stage"), "stage", notes, MAX_STAGE),
        progress=_number(body.get("progress"), "progress", notes, 0.0, 100.0),
        current_epoch=_integer(body.get("current_epoch"), "current_epoch", notes, MAX_EPOCHS),
        current_step=_integer(body.get("current_step"), "current_step", notes, MAX_STEPS),
        total_steps=_integer(body.get("total_steps"), "total_steps", notes, MAX_STEPS),
        total_epochs=_integer(body.get("total_epochs"), "total_epochs", notes, MAX_EPOCHS),
        metrics=parse_metrics(body.get("metrics"), notes),
        metrics_history=parse_history(body.get("metrics_history"), notes, since_step),
        error=_text(body.get("error"), "error", notes),
        started_at=_timestamp(body.get("started_at"), "started_at", notes),
        finished_at=_timestamp(body.get("finished_at"), "finished_at", notes),
        artifact=parse_artifact(body.get("artifact"), notes),
        checkpoints=parse_checkpoints(body.get("checkpoints"), notes),
        notes=tuple(notes),
        history_included=isinstance(body.get("metrics_history"), list),
    )


def parse_submit_result(body: Any) -> SubmitResult:
    if not isinstance(body, dict):
        raise ClusterMalformed("the cluster's submit answer is not a JSON object")
    external_id = body.get("external_job_id")
    if (
        not isinstance(external_id, str)
        or not external_id
        or len(external_id) > 200
        or clean_text(external_id) != external_id
    ):
        raise ClusterMalformed("the cluster's submit answer has no usable external_job_id")
    notes: list[str] = []
    status = None
    if body.get("status") is not None:
        try:
            status = ClusterJobStatus(body["status"])
        except ValueError:
            notes.append(f"status: dropped unknown value {_short(body['status'])}")
    return SubmitResult(external_job_id=external_id, status=status, notes=tuple(notes))


def parse_cancel_result(body: Any, external_job_id: str) -> CancelResult:
    """A cancel answer needs no body; a status in it is used when it is a known value."""
    status = None
    if isinstance(body, dict) and body.get("status") is not None:
        try:
            status = ClusterJobStatus(body["status"])
        except ValueError:
            status = None
    return CancelResult(external_job_id=external_job_id, status=status)
