"""The trained adapter on the monitor, in headless Chromium: a completed local-backend job's card
and its download, whose bytes match the checksum the cluster reported."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from api.runtime import Runtime
from components.artifact_view import ARTIFACT_DOWNLOAD
from db.models import JobStatus, ModelArtifact, TrainingJob
from settings import Settings
from tests.browser.monitor_support import fast_app, seed_job, start_signed_in

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

# What the trainer writes: a safetensors file (any bytes do for the download path).
ADAPTER = bytes(range(256)) * 64
# Fetch the link as the signed-in browser does and hand the bytes back as a list of numbers.
FETCH_BYTES_JS = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: 'same-origin'})
  .then(r => r.ok ? r.arrayBuffer() : Promise.reject(r.status))
  .then(b => done(Array.from(new Uint8Array(b))))
  .catch(e => done('failed: ' + e));
"""


@pytest.fixture
def monitor_app(settings: Settings, runtime: Runtime) -> Any:
    return fast_app(settings, runtime)


def _completed_local_job(runtime: Runtime, user_id: int) -> str:
    """A completed job as the local backend leaves it: the adapter under DATA_DIR/runs/<job>/adapter/."""
    job_id = seed_job(runtime, user_id, JobStatus.COMPLETED, points=10)
    adapter = Path(runtime.settings.data_dir) / "runs" / job_id / "adapter" / "adapter_model.safetensors"
    adapter.parent.mkdir(parents=True, exist_ok=True)
    adapter.write_bytes(ADAPTER)
    with runtime.transaction() as session:
        job = session.get_one(TrainingJob, uuid.UUID(job_id))
        artifact = ModelArtifact(
            job_id=job.id,
            user_id=user_id,
            storage_uri=adapter.resolve().as_uri(),
            size_bytes=len(ADAPTER),
            checksum=f"sha256:{hashlib.sha256(ADAPTER).hexdigest()}",
        )
        session.add(artifact)
        session.flush()
        job.artifact_id = artifact.id
        job.external_job_id = f"local-{job_id}"
    return job_id


def test_mon_art001_completed_job_shows_its_adapter_and_downloads_the_exact_bytes(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = _completed_local_job(runtime, user["id"])
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    # render, then the card: two round trips, which missed 10 s once on a loaded CI box
    duo.wait_for_element(f"#{ARTIFACT_DOWNLOAD}", timeout=20)

    card = duo.find_element(".monitor-artifact").text
    assert "Trained adapter" in card
    assert "16.0 KB" in card
    assert f"sha256:{hashlib.sha256(ADAPTER).hexdigest()[:16]}" in card
    link = duo.find_element(f"#{ARTIFACT_DOWNLOAD}")
    assert link.text == "Download adapter"
    href = link.get_attribute("href")
    assert f"/api/jobs/{job_id}/artifact/download?expires=" in href

    downloaded = duo.driver.execute_async_script(FETCH_BYTES_JS, href)
    assert isinstance(downloaded, list), downloaded
    assert bytes(downloaded) == ADAPTER
    assert hashlib.sha256(bytes(downloaded)).hexdigest() == hashlib.sha256(ADAPTER).hexdigest()
    assert duo.get_logs() == []


def test_mon_art002_running_job_has_no_adapter_card(
    dash_duo: Any, monitor_app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    job_id = seed_job(runtime, user["id"], JobStatus.RUNNING, points=5)
    duo = start_signed_in(dash_duo, monitor_app, user, next_path=f"/training/jobs/{job_id}")
    duo.wait_for_element("#mon-badge .badge", timeout=10)
    assert duo.find_elements(".monitor-artifact") == []
    assert duo.get_logs() == []
