"""Seconds per training step of the tiny model on CPU: the trainer's LoRA setup vs naive baselines.

    /work/venv-trainer/bin/python -m benchmarks.trainer_step [--steps 100] [--rounds 4] [--warmup 5]

Variants, all on the same data, batch size, sequence lengths and seed, in one process:
- lora-1thread: what `python -m trainer --tiny` does (LoRA r=8 on attention, MLP and lm_head; 1 thread)
- lora-1thread+calls: the same with every point sent through the reporter (signed callbacks batched
  every 0.5 s to a local HTTP server, plus the METRIC line): the cost of reporting
- full-1thread: naive baseline, full fine-tune of every weight without LoRA (1 thread)
- lora-2threads: naive baseline, LoRA with torch's default of one thread per core (2 here)
- ...+busy: the two LoRA variants again while this script keeps one core busy with a spinning child
  process, i.e. the shared machine the trainer's one-thread default is for
Variants run in interleaved rounds so a change in machine load hits all of them alike. Each prints
the median and p90 ms/step after warm-up, tokens/s, trainable parameters, the saved
artifact's size (adapter vs whole model), and the median ratio to lora-1thread in the same run.
Needs the trainer extra. Figures are noisy on a shared machine: quote them with the load average.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from contract.signing import derive_job_secret
from trainer.dataset import parse_examples, split_validation
from trainer.model import load_model, save_outputs, tiny_llama
from trainer.reporter import StatusReporter
from trainer.sample_data import sample_jsonl
from trainer.spec import parse_hyperparameters
from trainer.training import encode, train

# The cheapest possible callback endpoint, in its own process as PIPELINE's web app would be (a thread
# in this process would compete with training for the GIL and overstate the cost).
_RECEIVER = """
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Accept(BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def measure(
    model: Any,
    train_data: list[Any],
    val_data: list[Any],
    steps: int,
    pad_id: int,
    reporter: StatusReporter | None = None,
) -> tuple[list[float], list[float]]:
    """Per-step wall times from the real training loop, and the time each add_point took.

    With a reporter, each point also goes through it (signed, batched callbacks and a METRIC line),
    as in `python -m trainer`, so the difference is the reporting overhead per step. The last step
    runs validation (step == total), so it is dropped.
    """
    hp = parse_hyperparameters(
        {"learning_rate": 2e-3, "batch_size": 8, "epochs": 100, "rank": 8, "alpha": 16, "dropout": 0.0,
         "max_steps": steps, "eval_every": 10**9}
    )  # fmt: skip
    times: list[float] = []
    report_seconds: list[float] = []
    last = [time.perf_counter()]

    def on_point(point: dict[str, Any], epoch: int, total: int) -> None:
        if reporter is not None:
            before = time.perf_counter()
            reporter.add_point(point, epoch=epoch, total_steps=total)
            report_seconds.append(time.perf_counter() - before)
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    train(model, train_data, val_data, hp, pad_id=pad_id, stop=threading.Event(), on_point=on_point)
    return times[:-1], report_seconds


@dataclass
class Variant:
    name: str
    threads: int
    lora: bool
    busy: bool
    calls: bool = False
    model: Any = None
    loaded: Any = None
    times: list[float] = field(default_factory=list)


def artifact_bytes(loaded: Any, model: Any, directory: Path, lora: bool) -> int:
    """What the job would ship: the adapter file for LoRA, every weight for a full fine-tune."""
    if lora:
        return save_outputs(loaded, directory).stat().st_size
    model.save_pretrained(directory, safe_serialization=True)
    return sum(path.stat().st_size for path in directory.glob("*.safetensors"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5, help="steps dropped at the start of each round")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds over all variants")
    args = parser.parse_args()

    examples = parse_examples(sample_jsonl(400))
    train_examples, val_examples = split_validation(examples, 0.1)
    hp = parse_hyperparameters({"rank": 8, "alpha": 16, "dropout": 0.0})
    texts = [e.prompt + e.completion for e in examples]
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        callback_url = f"http://127.0.0.1:{int(receiver.stdout.readline())}/api/training-callback"
        run_variants(args, hp, texts, train_examples, val_examples, callback_url)
    finally:
        receiver.kill()
        receiver.wait()
    print(
        f"({args.steps} measured steps per variant in {args.rounds} interleaved rounds, {args.warmup} warm-up "
        f"steps dropped per round; batch 8; torch {torch.__version__}; "
        f"load average after: {os.getloadavg()[0]:.2f})"
    )


def run_variants(
    args: argparse.Namespace,
    hp: Any,
    texts: list[str],
    train_examples: list[Any],
    val_examples: list[Any],
    callback_url: str,
) -> None:
    """Measure the variants in interleaved rounds (so load drift hits all alike); one line each."""
    variants = [
        Variant("lora-1thread", 1, lora=True, busy=False),
        Variant("lora-1thread+calls", 1, lora=True, busy=False, calls=True),
        Variant("full-1thread", 1, lora=False, busy=False),
        Variant("lora-2threads", 2, lora=True, busy=False),
        Variant("lora-1thread+busy", 1, lora=True, busy=True),
        Variant("lora-2threads+busy", 2, lora=True, busy=True),
    ]
    report_seconds: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        for variant in variants:
            variant.loaded = load_model(hp, tiny=True, texts=texts, output_dir=Path(scratch) / variant.name)
            variant.model = (
                variant.loaded.model if variant.lora else tiny_llama(len(variant.loaded.tokenizer), 0)
            )
        tokenizer = variants[0].loaded.tokenizer  # same data, same seed: every variant's tokenizer is equal
        pad_id = int(tokenizer.pad_token_id)
        train_data = encode(train_examples, tokenizer, 256)
        val_data = encode(val_examples, tokenizer, 256)
        per_round = max(5, args.steps // args.rounds)
        for _ in range(args.rounds):
            for variant in variants:
                torch.set_num_threads(variant.threads)
                spinner = (
                    subprocess.Popen([sys.executable, "-c", "while True: pass"]) if variant.busy else None
                )
                reporter = None
                if variant.calls:
                    secret = derive_job_secret("benchmark-secret-key-0123456789", "bench")
                    reporter = StatusReporter("bench", callback_url, secret, stdout=io.StringIO())
                try:
                    times, reported = measure(
                        variant.model, train_data, val_data, per_round + args.warmup + 1, pad_id, reporter
                    )
                finally:
                    if spinner is not None:
                        spinner.kill()
                        spinner.wait()
                    if reporter is not None:
                        reporter.finish("completed")
                variant.times += times[args.warmup :]
                report_seconds += reported
        tokens = sum(len(item.input_ids) for item in train_data) / len(train_data) * 8
        baseline = statistics.median(variants[0].times)
        for variant in variants:
            trainable = sum(p.numel() for p in variant.model.parameters() if p.requires_grad)
            artifact = artifact_bytes(
                variant.loaded, variant.model, Path(scratch) / f"{variant.name}-out", variant.lora
            )
            median = statistics.median(variant.times)
            p90 = statistics.quantiles(variant.times, n=10)[-1]
            print(
                f"{variant.name:19s} median {median * 1000:7.1f} ms/step  p90 {p90 * 1000:7.1f} ms  "
                f"~{tokens / median:6.0f} tokens/s  trainable {trainable:>9,d}  artifact {artifact / 1e6:5.2f} MB  "
                f"ratio vs lora-1thread {median / baseline:5.2f}x"
            )
    print(
        f"reporter.add_point in the training thread: median {statistics.median(report_seconds) * 1e6:.0f} us, "
        f"p99 {statistics.quantiles(report_seconds, n=100)[-1] * 1e6:.0f} us over {len(report_seconds)} points"
    )


if __name__ == "__main__":
    main()
