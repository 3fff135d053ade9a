"""Job spec parsing and dataset reading: every bad input becomes a message that names the problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trainer.dataset import DatasetError, download_dataset, parse_examples, split_validation
from trainer.sample_data import sample_jsonl
from trainer.spec import SpecError, load_spec_env, load_spec_file, model_source, parse_spec

pytestmark = pytest.mark.trainer


BASE: dict[str, Any] = {
    "job_id": "job-1",
    "dataset_url": "https://pipeline.test/storage/datasets/1/a.jsonl?expires=1&signature=x",
    "hyperparameters": {"learning_rate": 2e-4, "batch_size": 8, "epochs": 3, "rank": 16, "alpha": 32},
    "gpu_config": {"type": "A100-80GB", "count": 1},
    "callback_url": "https://pipeline.test/api/training-callback",
    "callback_secret": "s" * 64,
}


def spec_with(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


def test_a_full_spec_parses_with_defaults_for_what_the_job_leaves_out() -> None:
    spec = parse_spec(BASE, env={})
    hp = spec.hyperparameters
    assert (hp.learning_rate, hp.batch_size, hp.epochs, hp.rank, hp.alpha) == (2e-4, 8, 3, 16, 32)
    assert (hp.dropout, hp.base_model, hp.max_steps) == (0.05, "tiny-random-llama", None)
    assert spec.callback_secret == "s" * 64


def test_the_secret_can_come_from_the_environment_instead_of_the_file() -> None:
    raw = spec_with(callback_secret=None)
    assert parse_spec(raw, env={"PIPELINE_CALLBACK_SECRET": "e" * 64}).callback_secret == "e" * 64
    with pytest.raises(SpecError, match="no callback secret"):
        parse_spec(raw, env={})


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"rank": 0}, "hyperparameters.rank must be between 1 and 1024"),
        ({"batch_size": 2.5}, "hyperparameters.batch_size must be a whole number"),
        ({"learning_rate": "fast"}, "hyperparameters.learning_rate must be a number"),
        ({"learning_rate": float("nan")}, "hyperparameters.learning_rate must be between"),
        ({"epochs": True}, "hyperparameters.epochs must be a number"),
        ({"dropout": 0.95}, "hyperparameters.dropout must be between 0 and 0.9"),
        ({"base_model": " "}, "hyperparameters.base_model must be a model name or a local path"),
    ],
)
def test_bad_hyperparameters_name_the_field(hyperparameters: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(spec_with(hyperparameters={**BASE["hyperparameters"], **hyperparameters}), env={})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"job_id": ""}, "job_id is required"),
        ({"dataset_url": None}, "dataset_url is required"),
        ({"callback_url": "ftp://x"}, "callback_url must be an http"),
        ({"gpu_config": [1]}, "gpu_config must be an object"),
        ({"hyperparameters": []}, "hyperparameters must be an object"),
    ],
)
def test_bad_top_level_fields_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(spec_with(**changes), env={})


def test_a_spec_file_that_is_missing_or_not_json_says_which_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read job spec"):
        load_spec_file(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SpecError, match=r"bad\.json is not valid JSON"):
        load_spec_file(tmp_path / "bad.json")


def test_the_spec_can_come_from_the_environment() -> None:
    assert load_spec_env({"PIPELINE_JOB_SPEC": json.dumps(BASE)}) == BASE
    with pytest.raises(SpecError, match=r"pass --spec job\.json or set PIPELINE_JOB_SPEC"):
        load_spec_env({})
    with pytest.raises(SpecError, match="PIPELINE_JOB_SPEC is not valid JSON"):
        load_spec_env({"PIPELINE_JOB_SPEC": "{"})


def test_both_dataset_shapes_are_read() -> None:
    data = (
        json.dumps({"prompt": "Hi?", "completion": " Hello."})
        + "\n\n"
        + json.dumps(
            {"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Yo."}]}
        )
        + "\n"
    ).encode()
    first, second = parse_examples(data)
    assert (first.prompt, first.completion) == ("Hi?", " Hello.")
    assert (second.prompt, second.completion) == ("user: Hi?\nassistant:", " Yo.")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"prompt": "a", "completion": "b"}\n{oops\n', "dataset line 2 is not valid JSON"),
        (b'{"prompt": "a", "completion": "b"}\n{"text": "x"}\n', "dataset line 2: expected"),
        (b'{"prompt": "a", "completion": "b"}\n', "at least 2 are needed"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_a_bad_dataset_names_the_line(data: bytes, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        parse_examples(data)


def test_validation_split_is_seeded_and_never_empty() -> None:
    examples = parse_examples(sample_jsonl(400))
    train, validation = split_validation(examples, 0.1, seed=3)
    assert (len(train), len(validation)) == (360, 40)
    assert split_validation(examples, 0.1, seed=3) == (train, validation)
    assert not set(map(id, train)) & set(map(id, validation))
    tiny_train, tiny_validation = split_validation(examples[:2], 0.01)
    assert (len(tiny_train), len(tiny_validation)) == (1, 1)


def test_local_paths_and_file_urls_are_read(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(sample_jsonl(4))
    assert download_dataset(str(path)) == download_dataset(path.as_uri()) == sample_jsonl(4)
    with pytest.raises(DatasetError, match="cannot read dataset file"):
        download_dataset(str(tmp_path / "missing.jsonl"))


def test_the_contracts_base_model_wins_and_a_models_dir_copy_is_loaded_first(tmp_path: Path) -> None:
    raw = {
        "job_id": "j",
        "dataset_url": "http://d/x",
        "base_model": "Qwen/Qwen2.5-0.5B",
        "hyperparameters": {"base_model": "tiny-random-llama"},
    }
    assert parse_spec(raw).hyperparameters.base_model == "Qwen/Qwen2.5-0.5B"
    with pytest.raises(SpecError, match="base_model must be a model name"):
        parse_spec({**raw, "base_model": 7})
    assert model_source("Qwen/Qwen2.5-0.5B", tmp_path) == "Qwen/Qwen2.5-0.5B"  # no copy: the hub
    (tmp_path / "Qwen" / "Qwen2.5-0.5B").mkdir(parents=True)
    assert model_source("Qwen/Qwen2.5-0.5B", tmp_path) == str(tmp_path / "Qwen" / "Qwen2.5-0.5B")
    assert model_source("../Qwen/Qwen2.5-0.5B", tmp_path / "Qwen") == "../Qwen/Qwen2.5-0.5B"
