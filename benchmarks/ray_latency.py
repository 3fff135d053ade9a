"""Ray backend latencies: submit and status through jobs/ray_backend.py, against a fake Ray Jobs
server (tests/fake_ray.py, always) and a real Ray head in a network namespace (``--real``).

Baseline (naive, same run): one bare ``httpx.get`` of ``/api/jobs/{id}``, no parsing, no log. The
backend's status costs that plus the job log (the METRIC fallback) and validation; the table shows
the ratio, and how the log fallback grows with a job's step count (the logs API returns the whole
log every call, ~320 B/step), which is why callbacks are the primary channel.

    python -m benchmarks.ray_latency [--rounds 200] [--steps 0,1000,10000]
    /work/venv-trainer/bin/python -m benchmarks.ray_latency --real   # needs root + ray[default]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx

from contract.results import SubmitRequest
from jobs.ray_backend import RayJobsBackend

SECRET = "benchmark-secret-key-0123456789"


def request(job_id: str) -> SubmitRequest:
    return SubmitRequest(
        job_id=job_id,
        dataset_url="http://127.0.0.1:9/data.jsonl",
        hyperparameters={"learning_rate": 2e-3, "batch_size": 8, "epochs": 1, "rank": 8, "alpha": 16},
        gpu_config={},
        callback_url=None,
    )


def timed(action: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def line(label: str, samples: list[float], baseline: float | None = None) -> str:
    p50 = statistics.median(samples)
    p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
    ratio = f"{p50 / baseline:6.2f}x" if baseline else "  1.00x"
    return f"{label:<48} p50 {p50:8.2f} ms   p95 {p95:8.2f} ms   {ratio} vs bare GET"


def metric_log(steps: int) -> list[str]:
    return [
        "METRIC "
        + json.dumps(
            {
                "status": "running",
                "stage": "training",
                "current_step": step,
                "metrics_history": [
                    {
                        "step": step,
                        "epoch": 1,
                        "training_loss": 2.0,
                        "learning_rate": 1e-3,
                        "throughput": 2900.0,
                    }
                ],
            }
        )
        for step in range(1, steps + 1)
    ]


def run_fake(rounds: int, step_counts: list[int]) -> None:
    from tests.fake_ray import FakeRayJobs

    fake = FakeRayJobs()
    backend = RayJobsBackend(fake.url, secret_key=SECRET)
    bare = httpx.Client(base_url=fake.url)
    try:
        print(f"fake Ray Jobs server ({fake.url}), {rounds} rounds each")
        counter = iter(range(10**9))
        submit = timed(lambda: backend.submit(request(f"bench-{next(counter)}")), rounds)
        backend.submit(request("dup"))
        duplicate = timed(lambda: backend.submit(request("dup")), rounds)
        for steps in step_counts:
            job_id = f"steps-{steps}"
            backend.submit(request(job_id))
            fake.set_status(job_id, "RUNNING")
            fake.append_log(job_id, *metric_log(steps))
            baseline = statistics.median(timed(functools.partial(bare.get, f"/api/jobs/{job_id}"), rounds))
            if steps == step_counts[0]:
                print(line("submit", submit, baseline))
                print(line("submit, duplicate (500 'already exists' + GET)", duplicate, baseline))
            status_rows(fake.url, backend, job_id, steps, rounds, baseline)
    finally:
        bare.close()
        backend.close()
        fake.close()


def status_rows(
    url: str, backend: RayJobsBackend, job_id: str, steps: int, rounds: int, baseline: float
) -> None:
    print(line(f"status, bare GET (baseline), {steps} steps", [baseline]))
    without_log = RayJobsBackend(url, secret_key=SECRET, log_metrics=False)
    samples = timed(functools.partial(without_log.status, job_id), rounds)
    print(line(f"status, no log fallback, {steps} steps", samples, baseline))
    without_log.close()
    samples = timed(functools.partial(backend.status, job_id, since_step=steps - 1), max(5, rounds // 10))
    print(line(f"status + METRIC log fallback, {steps} steps", samples, baseline))


def run_real(rounds: int) -> None:
    from tests.ray.ray_head import ray_head_in_namespace, sandbox_problem

    problem = sandbox_problem()
    if problem:
        print(f"real Ray: skipped ({problem})")
        return
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        started = time.perf_counter()
        head = stack.enter_context(ray_head_in_namespace(folder))
        print(
            f"\nreal Ray head in a network namespace ({head.address}): up in {time.perf_counter() - started:.1f} s"
        )
        backend = RayJobsBackend(head.address, secret_key=SECRET, entrypoint="true", request_gpus=False)
        bare = httpx.Client(base_url=head.address)
        counter = iter(range(10**9))
        first = timed(lambda: backend.submit(request(f"cold-{next(counter)}")), 1)
        submit = timed(lambda: backend.submit(request(f"bench-{next(counter)}")), rounds)
        duplicate = timed(lambda: backend.submit(request("bench-0")), rounds)
        baseline = statistics.median(timed(lambda: bare.get("/api/jobs/bench-0"), rounds))
        status = timed(lambda: backend.status("bench-0", since_step=0), rounds)
        print(line("first submit (cold head)", first, baseline))
        print(line("submit", submit, baseline))
        print(line("submit, duplicate (500 'already exists' + GET)", duplicate, baseline))
        print(line("status, bare GET (baseline)", [baseline]))
        print(line("status + METRIC log fallback (job 'true')", status, baseline))
        bare.close()
        backend.close()
        stopping = time.perf_counter()
    print(f"head stopped by PID in {time.perf_counter() - stopping:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--steps", default="0,1000,10000", help="job log sizes (steps) for the status runs")
    parser.add_argument(
        "--real", action="store_true", help="also start a real Ray head (root, ray installed)"
    )
    args = parser.parse_args()
    run_fake(args.rounds, [int(step) for step in args.steps.split(",")])
    if args.real:
        run_real(min(args.rounds, 30))


if __name__ == "__main__":
    main()
