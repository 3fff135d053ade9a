"""The simulated cluster's pure parts: believable, deterministic curves, and a job timeline read
lazily from a clock (driven here by a fake clock, no server)."""

from __future__ import annotations

import itertools

import pytest

from catalog.base_models import BASE_MODELS
from catalog.gpus import GPU_TYPES
from services.job_timing import startup_seconds, step_seconds
from simulator import curves
from simulator.faults import ClusterFaults, FaultsInvalid
from simulator.state import MAX_LOGGED_POINTS, QUEUE_SECONDS, SAVE_SECONDS, SimCluster
from simulator.submission import SubmitInvalid, parse_submission

GPU = {"type": "A100-80GB", "count": 1}


def shape(job_id: str = "job", total: int = 1000, epochs: int = 3, gpu: str = "A100-80GB", count: int = 1):
    return curves.make_shape(
        job_id,
        total_steps=total,
        steps_per_epoch=total // epochs,
        epochs=epochs,
        batch_size=8,
        lr=2e-4,
        gpu_type=gpu,
        gpu_count=count,
    )


def test_curves_are_deterministic_per_job_and_differ_between_jobs():
    a1, a2, b = shape("a"), shape("a"), shape("b")
    assert [curves.point(a1, s) for s in range(0, 1000, 37)] == [
        curves.point(a2, s) for s in range(0, 1000, 37)
    ]
    assert curves.point(a1, 500) != curves.point(b, 500)


def test_training_loss_decays_with_noise():
    s = shape()
    losses = [curves.training_loss(s, step) for step in range(1, 1001)]
    first, last = sum(losses[:50]) / 50, sum(losses[-50:]) / 50
    assert last < first * 0.5
    assert any(b > a for a, b in itertools.pairwise(losses)), "noise: not monotonic"
    assert all(loss > 0 for loss in losses)


def test_learning_rate_warms_up_then_decays_by_cosine():
    s = shape()
    warm = s.warmup_steps
    assert curves.learning_rate(s, 0) < curves.learning_rate(s, warm - 1) <= s.peak_learning_rate
    assert curves.learning_rate(s, warm) == pytest.approx(s.peak_learning_rate)
    assert curves.learning_rate(s, 1000) == pytest.approx(0.1 * s.peak_learning_rate)
    decay = [curves.learning_rate(s, step) for step in range(warm, 1001, 50)]
    assert decay == sorted(decay, reverse=True)


def test_validation_loss_is_logged_at_intervals_and_rises_late_in_long_runs():
    s = shape(epochs=3)
    values = {step: v for step in range(1, 1001) if (v := curves.validation_loss(s, step)) is not None}
    assert 15 <= len(values) <= 25
    best = min(values, key=values.__getitem__)
    assert 0.4 < best / 1000 < 0.9, "minimum before the end"
    assert values[1000] > values[best]
    short = shape(epochs=1)
    end, middle = curves.validation_loss(short, 1000), curves.validation_loss(short, 500)
    assert end is not None
    assert middle is not None
    assert end < middle


def test_throughput_depends_on_gpu_type_and_count():
    v100, h100, h100x4 = shape(gpu="V100-32GB"), shape(gpu="H100"), shape(gpu="H100", count=4)
    assert v100.samples_per_second < h100.samples_per_second < h100x4.samples_per_second
    assert h100x4.samples_per_second < 4 * h100.samples_per_second  # scaling is not free
    assert h100x4.seconds_per_step < v100.seconds_per_step
    # reported in tokens/s: samples/s times the packed sequence length
    reported = curves.throughput(h100, 10)
    assert 0.9 * h100.samples_per_second * 512 < reported < 1.1 * h100.samples_per_second * 512
    assert all(0 <= curves.gpu_utilization(h100, step, evaluating=False) <= 100 for step in range(500))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def new_job(cluster: SimCluster, rows: int = 80, **hyper):
    spec = parse_submission(
        {
            "job_id": f"job-{rows}-{sorted(hyper.items())}",
            "dataset_url": "http://d/x",
            "hyperparameters": {"batch_size": 8, "epochs": 2} | hyper,
            "gpu_config": GPU,
        }
    )
    job, created = cluster.submit(spec)
    assert created
    return job


def test_a_job_walks_through_queued_running_completed():
    clock = Clock()
    cluster = SimCluster(time_scale=10.0, clock=clock)
    job = new_job(cluster)
    assert job.snapshot(clock(), None)["stage"] == "downloading_dataset"
    job.dataset_ready(80, clock())
    assert job.snapshot(clock(), None)["status"] == "queued"
    clock.now += 0.5  # 5 simulated seconds: past the queue, loading the model
    body = job.snapshot(clock(), 0)
    assert (body["status"], body["stage"], body["current_step"]) == ("running", "loading_model", 0)
    assert body["metrics_history"] == []
    assert body["total_steps"] == 20
    # Loading takes the start-up the estimate plans for this model (services/job_timing.py).
    clock.now += job.load_model_seconds / 10 + 0.5  # into training
    body = job.snapshot(clock(), 0)
    assert body["stage"] == "training"
    assert 0 < body["current_step"] < 20
    assert [p["step"] for p in body["metrics_history"]] == list(range(1, body["current_step"] + 1))
    clock.now += 10
    body = job.snapshot(clock(), 18)
    assert (body["status"], body["progress"], body["current_step"]) == ("completed", 100.0, 20)
    assert [p["step"] for p in body["metrics_history"]] == [19, 20]
    assert body["artifact"]["uri"].startswith("s3://")
    assert body["finished_at"] > body["started_at"]


def test_long_runs_log_a_bounded_number_of_points():
    clock = Clock()
    cluster = SimCluster(time_scale=1e6, clock=clock)
    job = new_job(cluster, rows=80_000, epochs=3)  # 30,000 steps
    job.dataset_ready(80_000, clock())
    clock.now += 100
    body = job.snapshot(clock(), 0)
    assert body["status"] == "completed"
    steps = [p["step"] for p in body["metrics_history"]]
    assert len(steps) <= MAX_LOGGED_POINTS + 1
    assert steps[-1] == 30_000
    assert steps == sorted(set(steps))
    every_five = new_job(cluster, rows=80, logging_steps=5)
    every_five.dataset_ready(80, clock())
    assert every_five.log_every == 5


def test_cancel_freezes_the_job_and_a_finished_job_ignores_cancel():
    clock = Clock()
    cluster = SimCluster(time_scale=10.0, clock=clock)
    job = new_job(cluster)
    job.dataset_ready(80, clock())
    clock.now += 2.0
    cluster.cancel(job)
    frozen = job.snapshot(clock(), 0)
    clock.now += 100
    later = job.snapshot(clock(), 0)
    assert later["status"] == "cancelled"
    assert later["current_step"] == frozen["current_step"]
    assert later["metrics_history"] == frozen["metrics_history"]

    done = new_job(cluster, rows=16)
    done.dataset_ready(16, clock())
    clock.now += 100
    cluster.cancel(done)
    assert done.snapshot(clock(), None)["status"] == "completed"


def test_cancel_before_start_has_no_started_at():
    clock = Clock()
    cluster = SimCluster(time_scale=10.0, clock=clock)
    job = new_job(cluster)
    cluster.cancel(job)
    job.dataset_ready(80, clock())
    clock.now += 100
    body = job.snapshot(clock(), None)
    assert body["status"] == "cancelled"
    assert "started_at" not in body


def test_idempotent_submit_and_forgetting():
    clock = Clock()
    cluster = SimCluster(time_scale=10.0, clock=clock)
    job = new_job(cluster, sim_forget_at=0.5)
    again, created = cluster.submit(job.spec)
    assert again is job
    assert not created
    job.dataset_ready(80, clock())
    assert cluster.get(job.external_job_id) is job
    clock.now += 100
    assert cluster.get(job.external_job_id) is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "JSON object"),
        ({"dataset_url": "http://d", "gpu_config": GPU}, "job_id"),
        ({"job_id": "j", "dataset_url": "ftp://d", "gpu_config": GPU}, "dataset_url"),
        ({"job_id": "j", "dataset_url": "http://d"}, "gpu_config"),
        (
            {"job_id": "j", "dataset_url": "http://d", "gpu_config": GPU, "hyperparameters": {"epochs": 0}},
            "epochs",
        ),
        (
            {
                "job_id": "j",
                "dataset_url": "http://d",
                "gpu_config": GPU,
                "hyperparameters": {"sim_fail_at": 2},
            },
            "sim_fail_at",
        ),
        ({"job_id": "j", "dataset_url": "http://d", "gpu_config": GPU, "base_model": "gpt2"}, "base_model"),
    ],
)
def test_bad_submissions_name_the_field(body, words):
    with pytest.raises(SubmitInvalid) as raised:
        parse_submission(body)
    assert words in raised.value.message


def test_fault_settings_are_validated_as_a_whole():
    faults = ClusterFaults()
    with pytest.raises(FaultsInvalid):
        faults.update({"error_rate": 0.5, "latency_ms": -1})
    assert faults.error_rate == 0.0, "nothing applied from a rejected update"
    with pytest.raises(FaultsInvalid):
        faults.update({"teleport": True})
    faults.update({"fail_next": 2, "error_status": 503})
    assert [faults.injected_error() for _ in range(3)] == [503, 503, None]


def test_a_smaller_base_model_loads_sooner_and_steps_faster_as_the_estimate_plans():
    """The simulated cluster runs on services/job_timing.py, the estimate's own model."""
    clock = Clock()
    cluster = SimCluster(time_scale=1.0, clock=clock)

    def ready(base_model: str):
        spec = parse_submission(
            {
                "job_id": f"job-{base_model}",
                "dataset_url": "http://d/x",
                "hyperparameters": {"batch_size": 8, "epochs": 1, "rank": 16},
                "gpu_config": GPU,
                "base_model": base_model,
            }
        )
        job, _ = cluster.submit(spec)
        job.dataset_ready(800, clock(), tokens=800 * 400)  # 400 tokens a row, under max_seq_length 512
        return job

    small, large = ready("Qwen/Qwen2.5-0.5B"), ready("meta-llama/Llama-3.1-8B")
    for job, hub_id in ((small, "Qwen/Qwen2.5-0.5B"), (large, "meta-llama/Llama-3.1-8B")):
        model = BASE_MODELS[hub_id]
        assert job.load_model_seconds == pytest.approx(startup_seconds(model) - QUEUE_SECONDS - SAVE_SECONDS)
        expected = step_seconds(model, GPU_TYPES["A100-80GB"], 1, 8 * 400, 16)
        assert job.shape.seconds_per_step == pytest.approx(expected)
    assert small.load_model_seconds < large.load_model_seconds
    assert small.shape.seconds_per_step < large.shape.seconds_per_step
