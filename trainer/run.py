"""One job from spec to terminal status: download, split, load, train, save, report.

Every way out reports exactly one terminal status: `completed` with the adapter artifact,
`cancelled` (SIGTERM/SIGINT: the current step finishes, the adapter is saved and reported), or
`failed` with an error message a user can read.
"""

from __future__ import annotations

import hashlib
import math
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from trainer.dataset import DatasetError, download_dataset, parse_examples, split_validation
from trainer.reporter import StatusReporter
from trainer.spec import TINY_BASE_MODEL, JobSpec, model_source

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 143  # 128 + SIGTERM, what a supervisor expects from a process it stopped


def file_artifact(path: Path) -> dict[str, Any]:
    """The contract's artifact object for one file: where it is, how big, and its SHA-256."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {
        "uri": path.resolve().as_uri(),
        "size_bytes": path.stat().st_size,
        "checksum": f"sha256:{digest.hexdigest()}",
    }


def describe_error(exc: BaseException) -> str:
    """Our own errors are already sentences; anything else keeps its type so it can be searched for."""
    if isinstance(exc, DatasetError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def run_job(
    spec: JobSpec,
    reporter: StatusReporter,
    stop: threading.Event,
    *,
    tiny: bool,
    output_dir: Path,
    threads: int = 1,
    models_dir: Path | None = None,
) -> int:
    """Train the job and report its terminal status; returns the process exit code."""
    try:
        return _train_and_report(
            spec, reporter, stop, tiny=tiny, output_dir=output_dir, threads=threads, models_dir=models_dir
        )
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        reporter.finish("failed", error=describe_error(exc))
        return EXIT_FAILED


def _train_and_report(
    spec: JobSpec,
    reporter: StatusReporter,
    stop: threading.Event,
    *,
    tiny: bool,
    output_dir: Path,
    threads: int,
    models_dir: Path | None,
) -> int:
    hp = spec.hyperparameters
    gpu_count = spec.gpu_config.get("count", 1)
    if isinstance(gpu_count, int) and gpu_count > 1:
        print(f"trainer: gpu_config.count={gpu_count}, but this trainer uses one device", file=sys.stderr)
    reporter.update(status="running", stage="downloading_dataset")
    examples = parse_examples(download_dataset(spec.dataset_url))
    train_examples, val_examples = split_validation(examples, hp.validation_fraction, seed=hp.seed)

    reporter.update(stage="loading_model")
    # Heavy imports only now: a bad spec or a refused download is reported within milliseconds.
    import torch

    from trainer.model import load_model, save_outputs
    from trainer.training import encode, plan_steps, train

    torch.set_num_threads(threads)
    torch.manual_seed(hp.seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    texts = [example.prompt + example.completion for example in examples]
    loaded = load_model(
        hp,
        tiny=tiny or hp.base_model == TINY_BASE_MODEL,
        texts=texts,
        output_dir=output_dir,
        source=model_source(hp.base_model, models_dir),
    )
    pad_id = int(loaded.tokenizer.pad_token_id)
    train_data = encode(train_examples, loaded.tokenizer, hp.max_seq_length)
    val_data = encode(val_examples, loaded.tokenizer, hp.max_seq_length)
    per_epoch, total_steps = plan_steps(len(train_data), hp)
    total_epochs = math.ceil(total_steps / per_epoch)
    reporter.update(stage="training", total_steps=total_steps, total_epochs=total_epochs)

    def on_point(point: dict[str, Any], epoch: int, total: int) -> None:
        reporter.add_point(point, epoch=epoch, total_steps=total)

    result = train(loaded.model, train_data, val_data, hp, pad_id=pad_id, stop=stop, on_point=on_point)
    reporter.update(stage="saving_adapter")
    artifact = file_artifact(save_outputs(loaded, output_dir))
    if stop.is_set() and result.stopped_early:
        stage = f"cancelled at step {result.steps_done} of {result.total_steps}"
        reporter.finish("cancelled", artifact=artifact, stage=stage)
        return EXIT_CANCELLED
    reporter.finish("completed", artifact=artifact)
    return EXIT_OK
