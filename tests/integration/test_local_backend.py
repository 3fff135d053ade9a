"""GPU_CLUSTER_BACKEND=local end to end: the processor cycle submits a PIPELINE job, the real tiny
trainer trains it as a subprocess, reports by signed callback to the real app and by metrics.jsonl
to the poll, and the job completes once with every point, its cost, notifications and artifact.
A second job is cancelled while it trains and its trainer saves the adapter.

Needs the trainer extra (torch); CI runs it in the trainer stage.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from catalog.base_models import DEFAULT_BASE_MODEL
from db.base import utcnow
from db.models import CostRecord, MetricPoint, ModelArtifact
from jobs.local_backend import LocalBackend
from services.dataset_files import storage_file
from services.transitions import cancel_job
from settings import Settings
from tests.cycle_harness import all_terminal, count_rows, cycle_until, events, job, notifications, statuses
from tests.factories import make_dataset, make_job
from tests.fixtures.extras import needs_trainer_extra
from trainer.sample_data import sample_jsonl

needs_trainer_extra()

pytestmark = [pytest.mark.trainer, pytest.mark.slow]

HYPERPARAMETERS = {
    "learning_rate": 2e-3,
    "batch_size": 8,
    "epochs": 1,
    "rank": 8,
    "alpha": 16,
    "dropout": 0.0,
}


@pytest.fixture
def local_settings(app, settings: Settings) -> Iterator[Settings]:
    """The app served on a real port (signed dataset downloads and callbacks), backend `local`."""
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield settings.with_overrides(
        gpu_cluster_backend="local", public_base_url=f"http://127.0.0.1:{server.server_port}"
    )
    server.shutdown()


def backend(settings: Settings) -> LocalBackend:
    """One backend for the whole test: it keeps the trainer processes it started (exit codes)."""
    return LocalBackend.from_settings(settings)


def queue_real_job(
    sessions, owner: int, settings: Settings, base_model: str | None = None, **hyperparameters: object
):
    with sessions.begin() as session:
        dataset = make_dataset(session, owner, storage_path=f"{owner}/sample.jsonl")
        path = storage_file(settings.data_dir, dataset.storage_path)
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sample_jsonl(200))
        return make_job(
            session,
            owner,
            dataset.id,
            hyperparameters={**HYPERPARAMETERS, **hyperparameters},
            gpu_config={"type": "A100-80GB", "count": 1},
            base_model=base_model or DEFAULT_BASE_MODEL,
        ).id


def test_a_job_trains_for_real_on_the_local_backend(local_settings, sessions, owner) -> None:
    job_id = queue_real_job(sessions, owner, local_settings)
    cycle_until(
        local_settings,
        sessions,
        all_terminal(sessions, [job_id]),
        timeout=240,
        pause=0.5,
        client=backend(local_settings),
    )

    assert statuses(sessions, [job_id]) == ["completed"]
    done = job(sessions, job_id)
    assert done.total_steps
    assert done.total_steps > 5
    with sessions() as session:
        steps = list(session.scalars(select(MetricPoint.step).where(MetricPoint.job_id == job_id)))
        losses = list(
            session.scalars(
                select(MetricPoint.training_loss)
                .where(MetricPoint.job_id == job_id)
                .order_by(MetricPoint.step)
            )
        )
        artifact = session.scalars(select(ModelArtifact).where(ModelArtifact.job_id == job_id)).one()
    assert sorted(steps) == list(range(1, done.total_steps + 1))  # every step once, by either path
    assert losses[-1] < losses[0]
    assert count_rows(sessions, CostRecord, job_id) == 1
    assert notifications(sessions, job_id) == ["job_started", "job_completed"]
    assert [e.to_status for e in events(sessions, job_id, "status_changed")].count("completed") == 1
    assert events(sessions, job_id, "health_warning") == []  # the default checks stay quiet on a real run

    run_dir = Path(local_settings.data_dir) / "runs" / str(job_id)
    adapter = run_dir / "adapter" / "adapter_model.safetensors"
    assert artifact.checksum == "sha256:" + hashlib.sha256(adapter.read_bytes()).hexdigest()
    assert "callback_secret" not in json.loads((run_dir / "job.json").read_text())
    trainer_log = (run_dir / "trainer.log").read_text()
    assert "callback refused" not in trainer_log  # its signed callbacks were accepted
    assert "will retry" not in trainer_log


def test_cancelling_a_local_job_stops_its_trainer_which_saves_the_adapter(
    local_settings, sessions, owner
) -> None:
    job_id = queue_real_job(sessions, owner, local_settings, epochs=50)
    local = backend(local_settings)
    cycle_until(
        local_settings,
        sessions,
        lambda: (job(sessions, job_id).current_step or 0) >= 3,
        timeout=120,
        client=local,
    )
    with sessions.begin() as session:
        cancel_job(session, owner, job_id, actor="user", now=utcnow())
    cycle_until(
        local_settings,
        sessions,
        lambda: job(sessions, job_id).cancel_confirmed_at is not None,
        timeout=30,
        client=local,
    )
    run_dir = Path(local_settings.data_dir) / "runs" / str(job_id)
    deadline = time.monotonic() + 60
    last: dict[str, object] = {}
    while time.monotonic() < deadline:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        last = json.loads(lines[-1])
        if last["status"] == "cancelled":
            break
        time.sleep(0.2)
    assert last["status"] == "cancelled"
    assert (run_dir / "adapter" / "adapter_model.safetensors").exists()
    assert statuses(sessions, [job_id]) == ["cancelled"]
    assert notifications(sessions, job_id)[-1] == "job_cancelled"


def test_the_jobs_base_model_reaches_the_trainer_which_loads_it_with_from_pretrained(
    local_settings, sessions, owner, tmp_path: Path
) -> None:
    """Issue 13.1: the job's catalogue id travels in the submit payload to the trainer subprocess,
    which loads it with `from_pretrained` from `--models-dir`, where this test saved a tiny model
    under that id (nothing is fetched from a hub)."""
    from trainer.model import tiny_llama, train_tiny_tokenizer

    hub_id = "Qwen/Qwen2.5-0.5B"
    local_copy = tmp_path / "models" / hub_id
    tokenizer = train_tiny_tokenizer([row.decode() for row in sample_jsonl(200).splitlines()])
    tiny_llama(len(tokenizer), seed=1).save_pretrained(local_copy)
    tokenizer.save_pretrained(local_copy)
    job_id = queue_real_job(sessions, owner, local_settings, base_model=hub_id, max_steps=8)
    client = LocalBackend.from_settings(
        local_settings, tiny=False, extra_args=("--models-dir", str(tmp_path / "models"))
    )
    cycle_until(
        local_settings, sessions, all_terminal(sessions, [job_id]), timeout=240, pause=0.5, client=client
    )

    assert statuses(sessions, [job_id]) == ["completed"], job(sessions, job_id).error_message
    run_dir = Path(local_settings.data_dir) / "runs" / str(job_id)
    assert json.loads((run_dir / "job.json").read_text())["base_model"] == hub_id
    adapter_config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(local_copy)
