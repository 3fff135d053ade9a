"""The job spec the trainer runs: the cluster contract's submit payload, read from `--spec job.json`.

Parsing is strict and torch-free, so a bad spec fails in milliseconds with a message that names the
field, before any heavy import, and the failure is still reported to PIPELINE by callback.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECRET_ENV = "PIPELINE_CALLBACK_SECRET"
SPEC_ENV = "PIPELINE_JOB_SPEC"
MODELS_DIR_ENV = "PIPELINE_MODELS_DIR"  # local copies of base models, <dir>/<org>/<name>
TINY_BASE_MODEL = "tiny-random-llama"


class SpecError(ValueError):
    """The job spec is missing a field or has a value the trainer cannot run with."""


@dataclass(frozen=True)
class Hyperparameters:
    """What the job asks for (issue 5's fields), with the trainer's own knobs where the job is silent."""

    learning_rate: float
    batch_size: int
    epochs: int
    rank: int
    alpha: int  # peft's lora_alpha is an int; scaling = alpha / rank
    dropout: float = 0.05
    max_seq_length: int = 256
    base_model: str = TINY_BASE_MODEL
    eval_every: int = 20
    validation_fraction: float = 0.1
    max_steps: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    dataset_url: str
    hyperparameters: Hyperparameters
    callback_url: str | None
    # The per-job secret (contract.signing.derive_job_secret), never SECRET_KEY itself.
    callback_secret: str | None
    gpu_config: dict[str, Any]


def _hyperparameter(
    raw: dict[str, Any], name: str, default: Any, *, integer: bool, low: float, high: float
) -> Any:
    value = raw.get(name, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"hyperparameters.{name} must be a number, got {value!r}")
    if integer and float(value) != int(value):
        raise SpecError(f"hyperparameters.{name} must be a whole number, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise SpecError(f"hyperparameters.{name} must be between {low:g} and {high:g}, got {value!r}")
    return int(value) if integer else float(value)


def parse_hyperparameters(raw: Any) -> Hyperparameters:
    if not isinstance(raw, dict):
        raise SpecError("hyperparameters must be an object")
    base_model = raw.get("base_model", TINY_BASE_MODEL)
    if not isinstance(base_model, str) or not base_model.strip():
        raise SpecError("hyperparameters.base_model must be a model name or a local path")
    return Hyperparameters(
        learning_rate=_hyperparameter(raw, "learning_rate", 2e-4, integer=False, low=1e-8, high=1.0),
        batch_size=_hyperparameter(raw, "batch_size", 8, integer=True, low=1, high=4096),
        epochs=_hyperparameter(raw, "epochs", 1, integer=True, low=1, high=1000),
        rank=_hyperparameter(raw, "rank", 8, integer=True, low=1, high=1024),
        alpha=_hyperparameter(raw, "alpha", 16, integer=True, low=1, high=4096),
        dropout=_hyperparameter(raw, "dropout", 0.05, integer=False, low=0.0, high=0.9),
        max_seq_length=_hyperparameter(raw, "max_seq_length", 256, integer=True, low=8, high=131072),
        base_model=base_model.strip(),
        eval_every=_hyperparameter(raw, "eval_every", 20, integer=True, low=1, high=1e9),
        validation_fraction=_hyperparameter(
            raw, "validation_fraction", 0.1, integer=False, low=0.01, high=0.5
        ),
        max_steps=_hyperparameter(raw, "max_steps", None, integer=True, low=1, high=1e9),
        seed=_hyperparameter(raw, "seed", 0, integer=True, low=0, high=2**31),
    )


def parse_spec(raw: Any, *, env: dict[str, str] | None = None) -> JobSpec:
    """A JobSpec from the decoded JSON; the secret may come from PIPELINE_CALLBACK_SECRET instead."""
    environ = os.environ if env is None else env
    if not isinstance(raw, dict):
        raise SpecError("the job spec must be a JSON object")
    job_id, dataset_url = raw.get("job_id"), raw.get("dataset_url")
    if not isinstance(job_id, str) or not job_id:
        raise SpecError("job_id is required")
    if not isinstance(dataset_url, str) or not dataset_url:
        raise SpecError("dataset_url is required")
    callback_url = raw.get("callback_url") or None
    if callback_url is not None and not str(callback_url).startswith(("http://", "https://")):
        raise SpecError(f"callback_url must be an http(s) URL, got {callback_url!r}")
    secret = raw.get("callback_secret") or environ.get(SECRET_ENV) or None
    if callback_url and not secret:
        raise SpecError(f"callback_url is set but there is no callback secret (spec or {SECRET_ENV})")
    gpu_config = raw.get("gpu_config") or {}
    if not isinstance(gpu_config, dict):
        raise SpecError("gpu_config must be an object")
    hyperparameters = raw.get("hyperparameters", {})
    base_model = raw.get("base_model")
    if base_model is not None:  # the contract's field (PIPELINE's catalogue id) wins
        if not isinstance(base_model, str) or not base_model.strip():
            raise SpecError("base_model must be a model name (a hub id) or a local path")
        if isinstance(hyperparameters, dict):
            hyperparameters = {**hyperparameters, "base_model": base_model}
    return JobSpec(
        job_id=job_id,
        dataset_url=dataset_url,
        hyperparameters=parse_hyperparameters(hyperparameters),
        callback_url=callback_url,
        callback_secret=secret,
        gpu_config=gpu_config,
    )


def model_source(base_model: str, models_dir: Path | None) -> str:
    """Where `from_pretrained` loads `base_model` from: `<models_dir>/<hub id>` when that folder
    exists (a cluster's local copies, or a test's saved tiny model: no download), else the name."""
    if models_dir is not None and not Path(base_model).is_absolute() and ".." not in Path(base_model).parts:
        local = models_dir / base_model
        if local.is_dir():
            return str(local)
    return base_model


def load_spec_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The raw spec JSON from PIPELINE_JOB_SPEC, for engines that pass environment, not files."""
    text = environ.get(SPEC_ENV)
    if not text:
        raise SpecError(f"no job spec: pass --spec job.json or set {SPEC_ENV}")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{SPEC_ENV} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{SPEC_ENV} must hold a JSON object")
    return raw


def load_spec_file(path: Path) -> dict[str, Any]:
    """The raw spec JSON; errors name the file so a cluster log says what was wrong."""
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise SpecError(f"cannot read job spec {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise SpecError(f"job spec {path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"job spec {path} must hold a JSON object")
    return raw
