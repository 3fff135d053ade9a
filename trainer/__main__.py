"""`python -m trainer --spec job.json [--tiny]`: the process a GPU cluster (or Ray) runs for one job.

Without --spec the spec is read from the PIPELINE_JOB_SPEC environment variable (JSON), which suits
engines that pass environment but share no filesystem with PIPELINE (Ray's runtime_env env_vars).

Exit codes: 0 completed, 1 failed, 2 unusable spec or arguments, 143 cancelled by SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from trainer.reporter import StatusReporter
from trainer.run import EXIT_FAILED, run_job
from trainer.spec import SECRET_ENV, SPEC_ENV, SpecError, load_spec_env, load_spec_file, parse_spec

# Where runs go without --output-dir: a Ray cluster on storage PIPELINE shares points it under
# PIPELINE's DATA_DIR, so the adapter's file:// URI is one PIPELINE can serve (docs/backends.md).
RUNS_DIR_ENV = "PIPELINE_RUNS_DIR"

EXIT_BAD_SPEC = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    parser.add_argument(
        "--spec", type=Path, help=f"the job spec JSON file (the submit payload); default: ${SPEC_ENV}"
    )
    parser.add_argument("--tiny", action="store_true", help="train a ~1M-param random Llama (no downloads)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        help=f"where the adapter goes (default ${RUNS_DIR_ENV}/<job_id>, else runs/<job_id>)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("TRAINER_THREADS", "1")),
        help="torch CPU threads (default 1: more threads thrash on small shared machines)",
    )
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (overrides the spec)")
    parser.add_argument("--eval-every", type=int, help="validation loss every N steps (overrides the spec)")
    parser.add_argument("--flush-seconds", type=float, default=0.5, help="callback batching interval")
    return parser


def _report_bad_spec(raw: object, message: str) -> None:
    """A spec we cannot run may still say where to report: tell PIPELINE why, not just our stderr."""
    print(f"trainer: {message}", file=sys.stderr, flush=True)
    if not isinstance(raw, dict) or not isinstance(raw.get("job_id"), str):
        return
    url = raw.get("callback_url") if isinstance(raw.get("callback_url"), str) else None
    secret = raw.get("callback_secret") or os.environ.get(SECRET_ENV)
    reporter = StatusReporter(raw["job_id"], url if secret else None, secret, final_deadline_seconds=10)
    reporter.finish("failed", error=f"invalid job spec: {message}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    raw: object = None
    try:
        raw = load_spec_file(args.spec) if args.spec else load_spec_env(os.environ)
        overrides = {
            key: value
            for key, value in (("max_steps", args.max_steps), ("eval_every", args.eval_every))
            if value is not None
        }
        if overrides and isinstance(raw, dict):
            raw = {**raw, "hyperparameters": {**(raw.get("hyperparameters") or {}), **overrides}}
        spec = parse_spec(raw)
    except SpecError as exc:
        _report_bad_spec(raw, str(exc))
        return EXIT_BAD_SPEC
    if args.threads < 1:
        print("trainer: --threads must be at least 1", file=sys.stderr)
        return EXIT_BAD_SPEC

    output_dir = args.output_dir or Path(os.environ.get(RUNS_DIR_ENV) or "runs") / spec.job_id
    reporter = StatusReporter(
        spec.job_id,
        spec.callback_url,
        spec.callback_secret,
        flush_seconds=args.flush_seconds,
        record_path=output_dir / "metrics.jsonl",
    )
    try:
        return run_job(spec, reporter, stop, tiny=args.tiny, output_dir=output_dir, threads=args.threads)
    except BaseException:  # run_job reports its own failures; this is the last line of defence
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
