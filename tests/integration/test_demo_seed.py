"""The embedded default's first start: a demo user with a sample dataset and one queued job, once."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from api.runtime import Runtime
from cli.demo import SAMPLE_DATASET_NAME, ensure_demo_user, ensure_sample_work, start_cycles_once_serving
from db.models import Dataset, JobEvent, TrainingJob
from services.dataset_files import storage_file
from tests.ports import free_port


def test_first_start_seeds_a_ready_dataset_and_a_queued_job_once(
    sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    ensure_demo_user(sqlite_runtime, tmp_path)
    assert ensure_sample_work(sqlite_runtime) is True
    assert ensure_sample_work(sqlite_runtime) is False  # a restart keeps the user's data as it is

    with sqlite_runtime.transaction() as session:
        datasets = session.scalars(select(Dataset)).all()
        assert [d.name for d in datasets] == [SAMPLE_DATASET_NAME]
        assert datasets[0].total_training_pairs == 400
        stored = storage_file(sqlite_runtime.settings.data_dir, datasets[0].storage_path)
        assert stored is not None
        assert stored.stat().st_size == datasets[0].file_size
        jobs = session.scalars(select(TrainingJob)).all()
        assert len(jobs) == 1
        assert jobs[0].status == "queued"
        assert jobs[0].dataset_id == datasets[0].id
        assert jobs[0].estimated_total_cost is not None
        assert jobs[0].estimated_total_cost > 0
        assert jobs[0].total_steps == 150  # ~30 s of steps after ~40 s of start-up, in real time
        assert session.scalar(select(func.count()).select_from(JobEvent)) == 1


def test_demo_cycles_wait_until_the_web_server_listens(sqlite_runtime: Runtime, tmp_path: Path) -> None:
    """The cluster fetches a submitted job's dataset from our web server at once, so the demo's
    first cycle must not run before that server accepts connections (a fresh start once failed
    the seeded job with "could not download the dataset")."""
    email, _ = ensure_demo_user(sqlite_runtime, tmp_path)
    ensure_sample_work(sqlite_runtime, email)
    web_port = free_port()
    nobody = f"http://127.0.0.1:{free_port()}"  # every submit fails transiently: a visible attempt
    settings = sqlite_runtime.settings.with_overrides(gpu_cluster_api_url=nobody, cycle_interval_seconds=0.2)

    def attempts() -> int:
        with sqlite_runtime.transaction() as session:
            return sum(job.submit_attempts for job in session.scalars(select(TrainingJob)))

    stop = threading.Event()
    try:
        start_cycles_once_serving(
            settings, stop, sessions=sqlite_runtime.sessions, host="127.0.0.1", port=web_port
        )
        time.sleep(1.5)  # ~7 cycle intervals
        assert attempts() == 0, "a cycle submitted before the web server listened"
        with socket.create_server(("127.0.0.1", web_port)):
            deadline = time.monotonic() + 15
            while attempts() == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert attempts() > 0, "cycles never started once the server listened"
    finally:
        stop.set()
