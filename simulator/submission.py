"""What the simulated cluster accepts on POST /training/submit, checked like a real cluster would.

A bad request gets a 400 (not a JSON object) or 422 (a field is wrong) with a message that names
the field: that is the "permanent rejection" half of the contract. Test-only fault settings ride in
the hyperparameters under ``sim_*`` names, so a test can make one job misbehave without any
special path in the product (which passes hyperparameters through untouched).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from catalog.base_models import BASE_MODELS, find_base_model
from catalog.gpus import MAX_GPU_COUNT, find_gpu_type, gpu_type_ids, valid_gpu_count
from simulator.pathologies import DEFAULT_ONSET, PATHOLOGIES

MALFORMED_KINDS = ("not_json", "wrong_shape", "bad_values")


class SubmitInvalid(ValueError):
    """The submission is refused for good; ``status`` is 400 or 422."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class JobFaults:
    """Per-job fault injection, from ``sim_*`` hyperparameters."""

    fail_at: float | None = None  # fraction of training at which the job fails
    forget_at: float | None = None  # fraction at which the cluster forgets the job (404)
    malformed: str | None = None  # one of MALFORMED_KINDS for this job's status bodies
    latency_ms: float = 0.0
    error_rate: float = 0.0  # fraction of this job's status requests answered 500
    pathology: str | None = None  # one of simulator/pathologies.PATHOLOGIES: a sick run's curves
    pathology_at: float = DEFAULT_ONSET  # fraction of training where the pathology starts


@dataclass(frozen=True)
class SubmitSpec:
    job_id: str
    dataset_url: str
    batch_size: int
    epochs: int
    learning_rate: float
    rank: int
    max_seq_length: int
    logging_steps: int | None
    gpu_type: str
    gpu_count: int
    callback_url: str | None
    faults: JobFaults
    # What the cluster would sign callbacks with: received, never derived here (the simulator does
    # not know SECRET_KEY); kept out of the repr, as nothing of the cluster may log it.
    callback_secret: str | None = field(default=None, repr=False)
    base_model: str | None = None  # a catalogue hub id; None: the catalogue default


def _whole(raw: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SubmitInvalid(422, f"hyperparameters.{name} must be a whole number from {low} to {high}")
    return value


def _fraction(raw: dict[str, Any], name: str, *, upper: float = 1.0) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= upper:
        raise SubmitInvalid(422, f"hyperparameters.{name} must be a number from 0 to {upper:g}")
    return float(value)


def _faults(hyper: dict[str, Any]) -> JobFaults:
    malformed = hyper.get("sim_malformed")
    if malformed is not None and malformed not in MALFORMED_KINDS:
        raise SubmitInvalid(422, f"hyperparameters.sim_malformed must be one of {', '.join(MALFORMED_KINDS)}")
    pathology = hyper.get("sim_pathology")
    if pathology is not None and pathology not in PATHOLOGIES:
        raise SubmitInvalid(422, f"hyperparameters.sim_pathology must be one of {', '.join(PATHOLOGIES)}")
    onset = _fraction(hyper, "sim_pathology_at")
    return JobFaults(
        pathology=pathology,
        pathology_at=DEFAULT_ONSET if onset is None else onset,
        fail_at=_fraction(hyper, "sim_fail_at"),
        forget_at=_fraction(hyper, "sim_forget_at"),
        malformed=malformed,
        latency_ms=_fraction(hyper, "sim_latency_ms", upper=60_000) or 0.0,
        error_rate=_fraction(hyper, "sim_error_rate") or 0.0,
    )


def parse_submission(body: Any) -> SubmitSpec:
    """Validate a submit body. Raises SubmitInvalid with a message naming the bad field."""
    if not isinstance(body, dict):
        raise SubmitInvalid(400, "the request body must be a JSON object")
    job_id = body.get("job_id")
    if not isinstance(job_id, str) or not 1 <= len(job_id) <= 200:
        raise SubmitInvalid(422, "job_id is required: a string of 1 to 200 characters (the idempotency key)")
    url = body.get("dataset_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise SubmitInvalid(422, "dataset_url is required: an http(s) URL the cluster can download")
    hyper = body.get("hyperparameters", {})
    if not isinstance(hyper, dict):
        raise SubmitInvalid(422, "hyperparameters must be an object")
    gpu = body.get("gpu_config")
    if not isinstance(gpu, dict):
        raise SubmitInvalid(422, "gpu_config is required: {type, count}")
    if find_gpu_type(gpu.get("type")) is None:
        known = ", ".join(gpu_type_ids())
        raise SubmitInvalid(
            422, f"gpu_config.type {gpu.get('type')!r} is not offered here; choose one of {known}"
        )
    count = gpu.get("count", 1)
    if not valid_gpu_count(count):
        raise SubmitInvalid(422, f"gpu_config.count must be a whole number from 1 to {MAX_GPU_COUNT}")
    lr = hyper.get("learning_rate", 2e-4)
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not (math.isfinite(lr) and 0 < lr <= 1):
        raise SubmitInvalid(422, "hyperparameters.learning_rate must be a number above 0 and at most 1")
    callback = body.get("callback_url")
    if callback is not None and not isinstance(callback, str):
        raise SubmitInvalid(422, "callback_url must be a string")
    secret = body.get("callback_secret")
    if secret is not None and (not isinstance(secret, str) or not 16 <= len(secret) <= 256):
        raise SubmitInvalid(422, "callback_secret must be a string of 16 to 256 characters")
    base_model = body.get("base_model")
    if base_model is not None and find_base_model(base_model) is None:
        raise SubmitInvalid(422, f"base_model is not offered here; choose one of {', '.join(BASE_MODELS)}")
    logging_steps = hyper.get("logging_steps")
    return SubmitSpec(
        job_id=job_id,
        dataset_url=url,
        batch_size=_whole(hyper, "batch_size", 8, 1, 4096),
        epochs=_whole(hyper, "epochs", 3, 1, 100),
        learning_rate=float(lr),
        rank=_whole(hyper, "rank", 16, 1, 1024),
        max_seq_length=_whole(hyper, "max_seq_length", 512, 16, 32768),
        logging_steps=None if logging_steps is None else _whole(hyper, "logging_steps", 1, 1, 100_000),
        gpu_type=gpu["type"],
        gpu_count=count,
        callback_url=callback,
        faults=_faults(hyper),
        callback_secret=secret,
        base_model=base_model,
    )
