"""The training loop: LoRA on a causal LM, loss on completion tokens only, one metric point per step.

A plain PyTorch loop rather than `transformers.Trainer`: each step's point must carry the validation
loss measured at that same step (PIPELINE stores one row per step), the stop check must sit between
steps, and the loop stays small enough to read. Validation runs every `eval_every` steps and at the
last step.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase, get_cosine_schedule_with_warmup

from trainer.dataset import Example
from trainer.spec import Hyperparameters

IGNORE_INDEX = -100
MAX_GRAD_NORM = 1.0


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]


@dataclass
class LoopResult:
    steps_done: int
    total_steps: int
    stopped_early: bool
    first_validation_loss: float | None
    last_validation_loss: float | None
    seconds: float


PointSink = Callable[[dict[str, Any], int, int], None]


def encode(examples: list[Example], tokenizer: PreTrainedTokenizerBase, max_length: int) -> list[Encoded]:
    """Prompt then completion then EOS; labels mask the prompt so the model learns to answer."""
    encoded = []
    eos = tokenizer.eos_token_id
    for example in examples:
        prompt = tokenizer(example.prompt, add_special_tokens=False)["input_ids"]
        answer = tokenizer(example.completion, add_special_tokens=False)["input_ids"]
        answer = [*answer, eos] if eos is not None else list(answer)
        ids = (prompt + answer)[:max_length]
        labels = ([IGNORE_INDEX] * len(prompt) + answer)[:max_length]
        if any(label != IGNORE_INDEX for label in labels):
            encoded.append(Encoded(ids, labels))
    if not encoded:
        raise ValueError("no example has completion tokens within max_seq_length")
    return encoded


def collate(batch: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(item.input_ids) for item in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, item in enumerate(batch):
        ids[row, : len(item.input_ids)] = torch.tensor(item.input_ids)
        labels[row, : len(item.labels)] = torch.tensor(item.labels)
        mask[row, : len(item.input_ids)] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {name: tensor.to(device, non_blocking=True) for name, tensor in batch.items()}


def batches(
    data: list[Encoded], size: int, pad_id: int, generator: torch.Generator
) -> Iterator[dict[str, torch.Tensor]]:
    order = torch.randperm(len(data), generator=generator).tolist()
    for start in range(0, len(order), size):
        yield collate([data[i] for i in order[start : start + size]], pad_id)


def validation_loss(model: Any, data: list[Encoded], size: int, pad_id: int) -> float:
    """Mean loss per completion token over the whole validation set."""
    device = next(model.parameters()).device
    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(data), size):
            batch = to_device(collate(data[start : start + size], pad_id), device)
            count = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
            total += float(model(**batch).loss) * count
            tokens += count
    model.train()
    return total / max(tokens, 1)


def gpu_utilization() -> float | None:
    """Percent busy of the current GPU, or None without one (or without NVML to ask)."""
    if not torch.cuda.is_available():
        return None
    try:
        return float(torch.cuda.utilization())
    except Exception:  # NVML missing or unsupported: the contract says null, not a guess
        return None


def plan_steps(train_size: int, hp: Hyperparameters) -> tuple[int, int]:
    """(steps per epoch, total steps): the job's epochs, capped by max_steps when given."""
    per_epoch = math.ceil(train_size / hp.batch_size)
    total = per_epoch * hp.epochs
    return per_epoch, min(total, hp.max_steps) if hp.max_steps else total


def train(
    model: Any,
    train_data: list[Encoded],
    val_data: list[Encoded],
    hp: Hyperparameters,
    *,
    pad_id: int,
    stop: threading.Event,
    on_point: PointSink,
) -> LoopResult:
    """Run until the planned steps are done or `stop` is set; calls on_point(point, epoch, total)."""
    per_epoch, total = plan_steps(len(train_data), hp)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate, weight_decay=0.0)
    scheduler = get_cosine_schedule_with_warmup(optimizer, max(1, total // 20), total)
    generator = torch.Generator().manual_seed(hp.seed)
    device = next(model.parameters()).device
    model.train()
    step, first_val, last_val = 0, None, None
    started = time.perf_counter()
    for epoch in range(1, math.ceil(total / per_epoch) + 1):
        for batch in batches(train_data, hp.batch_size, pad_id, generator):
            if stop.is_set() or step >= total:
                break
            tick = time.perf_counter()
            batch = to_device(batch, device)
            learning_rate = scheduler.get_last_lr()[0]
            loss = model(**batch).loss
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, MAX_GRAD_NORM))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens = int(batch["attention_mask"].sum())
            # Keyed by catalog/metrics.py's names; the reporter sends a metric missing here as null.
            point: dict[str, Any] = {
                "step": step,
                "epoch": epoch,  # the contract's 1-based epoch of this step
                "training_loss": float(loss.detach()),
                "learning_rate": learning_rate,
                "gradient_norm": grad_norm if math.isfinite(grad_norm) else None,
                "throughput": round(tokens / max(time.perf_counter() - tick, 1e-9), 1),
                "gpu_utilization": gpu_utilization(),
            }
            if step % hp.eval_every == 0 or step == total:
                last_val = validation_loss(model, val_data, hp.batch_size, pad_id)
                first_val = last_val if first_val is None else first_val
                point["validation_loss"] = last_val
            on_point(point, epoch, total)
        if stop.is_set() or step >= total:
            break
    return LoopResult(step, total, step < total, first_val, last_val, time.perf_counter() - started)
