"""Cluster-wide fault injection for tests and demos (set by CLI flags or POST /_sim/faults).

Rates draw from a seeded RNG so a run is repeatable; ``fail_next`` makes exactly the next N
contract requests fail, which is what a test that counts retries wants. Malformed bodies come in
three kinds, matching what real services send when they break: an HTML error page with 200, JSON
of the wrong shape, and the right shape with impossible numbers.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from simulator.submission import MALFORMED_KINDS

_ERROR_STATUSES = (400, 401, 403, 404, 408, 422, 429, 500, 502, 503, 504)


class FaultsInvalid(ValueError):
    pass


@dataclass
class ClusterFaults:
    error_rate: float = 0.0  # fraction of contract requests answered with error_status
    error_status: int = 500
    retry_after: float | None = None  # Retry-After header (seconds) sent with injected errors
    fail_next: int = 0  # the next N contract requests are answered with error_status
    latency_ms: float = 0.0  # added to every contract request
    malformed_rate: float = 0.0  # fraction of successful bodies garbled
    malformed_kind: str = "not_json"
    rng: random.Random = field(default_factory=lambda: random.Random(20261129), repr=False)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("rng")
        return data

    def update(self, changes: Any) -> None:
        """Apply a partial update; unknown keys or bad values raise FaultsInvalid (nothing applied)."""
        if not isinstance(changes, dict):
            raise FaultsInvalid("the body must be a JSON object")
        current = self.as_json()
        unknown = set(changes) - set(current)
        if unknown:
            raise FaultsInvalid(f"unknown fault settings: {', '.join(sorted(unknown))}")
        merged = current | changes
        for name in ("error_rate", "malformed_rate"):
            if not _is_number(merged[name]) or not 0 <= merged[name] <= 1:
                raise FaultsInvalid(f"{name} must be a number from 0 to 1")
        if not _is_number(merged["latency_ms"]) or not 0 <= merged["latency_ms"] <= 120_000:
            raise FaultsInvalid("latency_ms must be a number from 0 to 120000")
        if merged["error_status"] not in _ERROR_STATUSES:
            raise FaultsInvalid(f"error_status must be one of {_ERROR_STATUSES}")
        if merged["retry_after"] is not None and (
            not _is_number(merged["retry_after"]) or merged["retry_after"] < 0
        ):
            raise FaultsInvalid("retry_after must be a non-negative number or null")
        if (
            isinstance(merged["fail_next"], bool)
            or not isinstance(merged["fail_next"], int)
            or merged["fail_next"] < 0
        ):
            raise FaultsInvalid("fail_next must be a non-negative whole number")
        if merged["malformed_kind"] not in MALFORMED_KINDS:
            raise FaultsInvalid(f"malformed_kind must be one of {', '.join(MALFORMED_KINDS)}")
        for name, value in merged.items():
            setattr(self, name, value)

    def injected_error(self) -> int | None:
        """The status to answer this request with instead of serving it, or None."""
        if self.fail_next > 0:
            self.fail_next -= 1
            return self.error_status
        if self.error_rate and self.rng.random() < self.error_rate:
            return self.error_status
        return None

    def malformed(self) -> str | None:
        if self.malformed_rate and self.rng.random() < self.malformed_rate:
            return self.malformed_kind
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def garble(body: dict[str, Any], kind: str) -> tuple[str, str]:
    """(text, content type) of a deliberately broken version of ``body``."""
    if kind == "not_json":
        return "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"
    if kind == "wrong_shape":
        return json.dumps([{"state": body.get("status"), "pct": body.get("progress")}]), "application/json"
    broken = dict(body)
    broken["progress"] = 150.0
    broken["current_step"] = -3
    broken["metrics"] = {
        "training_loss": float("nan"),
        "validation_loss": float("inf"),
        "learning_rate": "0.0002",
        "gradient_norm": -1.5,
        "throughput": -20.0,
        "gpu_utilization": 140.0,
    }
    if "metrics_history" in broken:
        broken["metrics_history"] = [
            {**point, "training_loss": "NaN", "gpu_utilization": -5} for point in broken["metrics_history"]
        ]
    # Python's json writes NaN/Infinity literals, exactly the non-standard JSON some servers emit.
    return json.dumps(broken), "application/json"
