"""The embedded default's first start: a demo user with a sample dataset and one queued job, once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from api.demo import SAMPLE_DATASET_NAME, ensure_demo_user, ensure_sample_work
from api.runtime import Runtime
from db.dataset_files import storage_file
from db.models import Dataset, JobEvent, TrainingJob


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
        assert jobs[0].total_steps == 600  # long enough to watch live at the demo time scale
        assert session.scalar(select(func.count()).select_from(JobEvent)) == 1
