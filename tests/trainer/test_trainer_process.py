"""`python -m trainer` as a real process: it learns, reports every step once, saves, cancels, fails clearly.

The tiny random Llama on one CPU thread, against a real local HTTP server that serves the dataset and
verifies every callback's signature. Needs the trainer extra (torch); CI runs this as its own stage.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from catalog.base_models import BASE_MODELS
from contract.signing import derive_job_secret
from tests.fixtures.extras import needs_trainer_extra
from tests.trainer.receiver import SECRET_KEY, Receiver, running_receiver
from trainer.sample_data import sample_jsonl

needs_trainer_extra()

pytestmark = [
    pytest.mark.trainer,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
HYPERPARAMETERS = {
    "learning_rate": 2e-3,
    "batch_size": 8,
    "epochs": 5,
    "rank": 8,
    "alpha": 16,
    "dropout": 0.0,
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver({"data.jsonl": sample_jsonl(400)}) as server:
        yield server


def write_spec(tmp_path: Path, receiver: Receiver, job_id: str, dataset: str, **hyperparameters: Any) -> Path:
    spec = {
        "job_id": job_id,
        "dataset_url": f"{receiver.base_url}/storage/datasets/{dataset}?expires=1&signature=abc",
        "hyperparameters": {**HYPERPARAMETERS, **hyperparameters},
        "gpu_config": {"type": "cpu", "count": 1},
        "callback_url": receiver.callback_url,
    }
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    return path


def start_trainer(
    spec: Path,
    job_id: str,
    output_dir: Path,
    *extra: str,
    tiny: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    env = {**os.environ, **(env or {}), "PIPELINE_CALLBACK_SECRET": derive_job_secret(SECRET_KEY, job_id)}
    argv = [sys.executable, "-m", "trainer", "--spec", str(spec), "--output-dir", str(output_dir)]
    argv += ["--tiny"] if tiny else []
    return subprocess.Popen(
        [*argv, *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def sha256_of(uri: str) -> tuple[Path, str]:
    path = Path(urlsplit(uri).path)
    return path, "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_tiny_run_learns_and_delivers_every_step_once(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail_posts = {2, 3}  # two refused deliveries: the trainer must retry without duplicating
    spec = write_spec(tmp_path, receiver, "job-learn", "data.jsonl", max_steps=200, eval_every=20)
    process = start_trainer(spec, "job-learn", tmp_path / "out")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr

    assert receiver.rejected == []
    points = receiver.points()
    assert Counter(point["step"] for point in points) == Counter(range(1, 201))
    for point in points:
        assert point["training_loss"] > 0
        assert point["learning_rate"] >= 0
        assert point["gradient_norm"] > 0
        assert point["throughput"] > 0
        assert point["gpu_utilization"] is None  # no GPU here: null, never a made-up number
        assert point["epoch"] == (point["step"] - 1) // 45 + 1  # 1-based epoch; 360 rows / batch 8
    validation = [(p["step"], p["validation_loss"]) for p in points if p["validation_loss"] is not None]
    assert [step for step, _ in validation] == list(range(20, 201, 20))
    assert validation[-1][1] < validation[0][1] / 2, validation

    final = receiver.last()
    assert receiver.statuses().count("completed") >= 1
    assert final["status"] == "completed"
    assert (final["current_step"], final["total_steps"], final["progress"]) == (200, 200, 100.0)
    assert (final["current_epoch"], final["total_epochs"]) == (5, 5)
    assert {payload["status"] for payload in receiver.payloads} == {
        "running",
        "completed",
    }  # the contract's values
    assert final["metrics"]["validation_loss"] == validation[-1][1]
    assert final["started_at"]
    assert final["finished_at"]
    assert final["error"] is None
    path, checksum = sha256_of(final["artifact"]["uri"])
    assert path.name == "adapter_model.safetensors"
    assert final["artifact"]["checksum"] == checksum
    assert final["artifact"]["size_bytes"] == path.stat().st_size > 0

    assert_adapter_reproduces_the_reported_loss(tmp_path / "out", validation[-1][1])

    # The stdout fallback carries the same points, one status payload per line.
    lines = [json.loads(line[len("METRIC ") :]) for line in stdout.splitlines() if line.startswith("METRIC ")]
    assert sorted(p["step"] for line in lines for p in line["metrics_history"]) == list(range(1, 201))
    assert lines[-1]["status"] == "completed"
    # ...and so does the JSON-lines record kept beside the adapter.
    record = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert record == lines


def assert_adapter_reproduces_the_reported_loss(output_dir: Path, reported: float) -> None:
    """The saved base + adapter, loaded fresh, score the validation split as the trainer reported:
    the artifact is the trained adapter, and usable."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.dataset import parse_examples, split_validation
    from trainer.training import encode, validation_loss

    torch.set_num_threads(1)
    base = AutoModelForCausalLM.from_pretrained(output_dir / "base")
    model = PeftModel.from_pretrained(base, output_dir / "adapter")
    tokenizer = AutoTokenizer.from_pretrained(output_dir / "adapter")
    _, held_out = split_validation(parse_examples(sample_jsonl(400)), 0.1, seed=0)
    loss = validation_loss(model, encode(held_out, tokenizer, 256), 8, int(tokenizer.pad_token_id))
    assert loss == pytest.approx(reported, rel=1e-3)


def test_sigterm_mid_run_reports_cancelled_with_a_saved_adapter(tmp_path: Path, receiver: Receiver) -> None:
    spec = write_spec(tmp_path, receiver, "job-cancel", "data.jsonl", epochs=50, eval_every=1000)
    process = start_trainer(spec, "job-cancel", tmp_path / "out", "--flush-seconds", "0.2")
    deadline = time.monotonic() + 60
    while not any(point["step"] >= 10 for point in receiver.points()):
        assert process.poll() is None, "trainer exited before step 10"
        assert time.monotonic() < deadline, "trainer never reached step 10"
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr

    final = receiver.last()
    assert final["status"] == "cancelled"
    assert final["error"] is None
    stopped_at = final["current_step"]
    assert 10 <= stopped_at < final["total_steps"] == 45 * 50
    assert sorted(point["step"] for point in receiver.points()) == list(range(1, stopped_at + 1))
    path, checksum = sha256_of(final["artifact"]["uri"])
    assert final["artifact"]["checksum"] == checksum
    assert path.stat().st_size > 0


def test_a_dataset_url_that_403s_fails_the_job_with_a_clear_message(
    tmp_path: Path, receiver: Receiver
) -> None:
    spec = write_spec(tmp_path, receiver, "job-403", "forbidden.jsonl")
    process = start_trainer(spec, "job-403", tmp_path / "out")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1

    final = receiver.last()
    assert final["status"] == "failed"
    assert final["artifact"] is None
    assert "dataset download refused (HTTP 403)" in final["error"]
    assert "invalid or has expired" in final["error"]
    assert "signature=" not in final["error"]
    assert "signature=" not in stderr
    assert receiver.points() == []


def test_an_unusable_spec_is_reported_as_failed_with_the_field_named(
    tmp_path: Path, receiver: Receiver
) -> None:
    spec = write_spec(tmp_path, receiver, "job-bad", "data.jsonl", rank=0)
    process = start_trainer(spec, "job-bad", tmp_path / "out")
    process.communicate(timeout=60)
    assert process.returncode == 2
    assert receiver.last()["status"] == "failed"
    assert "hyperparameters.rank must be between 1 and 1024" in receiver.last()["error"]


def test_a_base_model_from_a_local_directory_trains_through_from_pretrained(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The production path (`base_model` = a directory or hub name), with a small saved model."""
    from trainer.model import tiny_llama, train_tiny_tokenizer

    base = tmp_path / "base-model"
    tokenizer = train_tiny_tokenizer([row.decode() for row in sample_jsonl(400).splitlines()])
    tiny_llama(len(tokenizer), seed=1).save_pretrained(base)
    tokenizer.save_pretrained(base)
    spec = write_spec(
        tmp_path, receiver, "job-local", "data.jsonl", base_model=str(base), max_steps=10, eval_every=5
    )
    process = start_trainer(spec, "job-local", tmp_path / "out", tiny=False)
    _, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, stderr

    final = receiver.last()
    assert final["status"] == "completed"
    assert sorted(point["step"] for point in receiver.points()) == list(range(1, 11))
    adapter_config = json.loads((tmp_path / "out" / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(base)
    assert "lm_head" not in adapter_config["target_modules"]  # a pretrained head is left alone
    assert not (tmp_path / "out" / "base").exists()  # a named base is not copied into the job's output


def save_tiny_base(folder: Path) -> None:
    """A small Llama and its tokenizer saved like a hub checkpoint: what `from_pretrained` reads."""
    from trainer.model import tiny_llama, train_tiny_tokenizer

    tokenizer = train_tiny_tokenizer([row.decode() for row in sample_jsonl(400).splitlines()])
    tiny_llama(len(tokenizer), seed=1).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def test_the_jobs_catalogue_base_model_is_loaded_from_the_models_dir(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The contract's top-level `base_model` (a catalogue hub id) goes through `from_pretrained`;
    `--models-dir` holds the copy the test saved, so nothing is fetched from a hub."""
    models = tmp_path / "models"
    save_tiny_base(models / "Qwen" / "Qwen2.5-0.5B")
    spec = write_spec(tmp_path, receiver, "job-catalogue", "data.jsonl", max_steps=6, eval_every=3)
    raw = json.loads(spec.read_text())
    spec.write_text(json.dumps({**raw, "base_model": "Qwen/Qwen2.5-0.5B"}))
    offline = {"HF_HUB_OFFLINE": "1"}  # a hub call would fail the run, not fetch anything
    process = start_trainer(
        spec, "job-catalogue", tmp_path / "out", "--models-dir", str(models), tiny=False, env=offline
    )
    _, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, stderr
    assert receiver.last()["status"] == "completed"
    adapter_config = json.loads((tmp_path / "out" / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(models / "Qwen" / "Qwen2.5-0.5B")
    # The catalogue's LoRA targets for a Llama-style model (catalog/base_models.py).
    assert sorted(adapter_config["target_modules"]) == sorted(
        BASE_MODELS["Qwen/Qwen2.5-0.5B"].lora_target_modules
    )


def test_a_trainer_with_the_wrong_secret_is_refused_and_still_exits_promptly(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The receiver really checks signatures (so the tests above prove the trainer signs right),
    and a refused callback is not retried for the whole final-delivery deadline."""
    spec = write_spec(tmp_path, receiver, "job-wrong", "forbidden.jsonl")
    env = {
        **os.environ,
        "PIPELINE_CALLBACK_SECRET": derive_job_secret(SECRET_KEY, "another-job"),
        "PIPELINE_JOB_SPEC": spec.read_text(),  # and the spec by environment, as Ray would pass it
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "--output-dir", str(tmp_path / "out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert time.monotonic() - started < 20
    assert receiver.payloads == []
    assert receiver.rejected
    assert set(receiver.rejected) == {"signature does not match"}
    assert "callback refused with HTTP 401" in result.stderr
    assert json.loads(result.stdout.splitlines()[-1].removeprefix("METRIC "))["status"] == "failed"


def test_sigterm_before_the_first_step_still_saves_and_reports_cancelled(
    tmp_path: Path, receiver: Receiver
) -> None:
    spec = write_spec(tmp_path, receiver, "job-early", "data.jsonl")
    process = start_trainer(spec, "job-early", tmp_path / "out", "--flush-seconds", "0.1")
    deadline = time.monotonic() + 30
    while "loading_model" not in [payload["stage"] for payload in list(receiver.payloads)]:
        assert time.monotonic() < deadline, "trainer never reported loading the model"
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    final = receiver.last()
    assert final["status"] == "cancelled"
    assert final["stage"] == "cancelled at step 0 of 225"
    assert receiver.points() == []
    _, checksum = sha256_of(final["artifact"]["uri"])
    assert final["artifact"]["checksum"] == checksum
