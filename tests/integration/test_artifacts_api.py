"""The trained adapter in the user's hands: `job.artifact`, `GET /api/jobs/<id>/artifact` and the
owner-only signed download, with the refusals the issue asks for (404 before an artifact exists,
the same 403 for another user's, a tampered and an expired link)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest

from api.runtime import Runtime
from contract.signing import artifact_download_query
from db.base import utcnow
from db.models import JobStatus, ModelArtifact
from services.artifacts import download_path
from tests.factories import make_dataset, make_job
from tests.integration.api_fixtures import ApiUser

ADAPTER = b"safetensors-bytes\x00\x01" * 512


def _job(runtime: Runtime, user_id: int, status: JobStatus, uri: str | None = None) -> uuid.UUID:
    """A job in `status`; with `uri`, the artifact its cluster reported (as ingest stores it)."""
    started = utcnow() - timedelta(hours=1)
    with runtime.transaction() as session:
        dataset = make_dataset(session, user_id)
        terminal = status not in (JobStatus.QUEUED, JobStatus.INITIALIZING, JobStatus.RUNNING)
        job = make_job(
            session,
            user_id,
            dataset.id,
            status=status,
            started_at=started,
            completed_at=started + timedelta(minutes=5) if terminal else None,
            final_cost=Decimal("0.5") if terminal else None,
        )
        if uri is not None:
            artifact = ModelArtifact(
                job_id=job.id,
                user_id=user_id,
                storage_uri=uri,
                size_bytes=len(ADAPTER),
                checksum=f"sha256:{hashlib.sha256(ADAPTER).hexdigest()}",
            )
            session.add(artifact)
            session.flush()
            job.artifact_id = artifact.id
        return job.id


def _held_adapter(runtime: Runtime, job_hint: str) -> str:
    """An adapter file where the local backend writes it (DATA_DIR/runs/<job>/adapter/...); its URI."""
    path = Path(runtime.settings.data_dir) / "runs" / job_hint / "adapter" / "adapter_model.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ADAPTER)
    return path.resolve().as_uri()


def test_completed_job_shows_its_artifact_and_the_owner_downloads_the_exact_bytes(
    alice: ApiUser, runtime: Runtime
) -> None:
    job_id = _job(runtime, alice.id, JobStatus.COMPLETED, _held_adapter(runtime, "a1"))
    artifact = alice.get(f"/api/jobs/{job_id}").get_json()["data"]["job"]["artifact"]
    assert artifact["uri"].startswith("file://")
    assert artifact["size_bytes"] == len(ADAPTER)
    assert artifact["checksum"] == f"sha256:{hashlib.sha256(ADAPTER).hexdigest()}"
    assert artifact["download_url"].startswith(f"/api/jobs/{job_id}/artifact/download?expires=")
    assert alice.get(f"/api/jobs/{job_id}/artifact").get_json()["data"]["artifact"]["uri"] == artifact["uri"]

    response = alice.get(artifact["download_url"])
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data == ADAPTER
    assert f"sha256:{hashlib.sha256(response.data).hexdigest()}" == artifact["checksum"]


def test_other_users_tampered_and_expired_links_get_the_same_403(
    alice: ApiUser, bob: ApiUser, runtime: Runtime
) -> None:
    job_id = _job(runtime, alice.id, JobStatus.COMPLETED, _held_adapter(runtime, "a2"))
    link = alice.get(f"/api/jobs/{job_id}").get_json()["data"]["job"]["artifact"]["download_url"]
    secret = runtime.settings.secret_key
    expired = artifact_download_query(secret, str(job_id), alice.id, ttl_seconds=-1)
    tampered = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
    other_job = download_path(uuid.uuid4()) + "?" + link.split("?", 1)[1]
    answers = [
        bob.get(link),  # another user's link
        alice.get(f"{download_path(job_id)}?{urlencode(expired)}"),
        alice.get(tampered),
        alice.get(other_job),  # a signature is for one job only
        alice.get(download_path(job_id)),  # no signature at all
        alice.get(f"{download_path('not-a-uuid')}?expires=1&signature=x"),
        alice.get(f"{download_path(job_id)}?expires=9999999999&signature=%C3%A9"),
    ]
    assert {response.status_code for response in answers} == {403}
    bodies = {response.get_data(as_text=True) for response in answers}
    assert len(bodies) == 1  # reveals nothing: one answer for every reason
    assert ADAPTER not in b"".join(response.data for response in answers)
    assert bob.get(f"/api/jobs/{job_id}/artifact").status_code == 404  # not his job, like a missing one


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (JobStatus.FAILED, "No artifact"),
        (JobStatus.CANCELLED, "No artifact"),
        (JobStatus.COMPLETED, "No artifact"),
        (JobStatus.RUNNING, "No artifact yet"),
    ],
)
def test_a_job_without_an_artifact_is_a_clear_404(
    alice: ApiUser, runtime: Runtime, status: JobStatus, error: str
) -> None:
    job_id = _job(runtime, alice.id, status)
    response = alice.get(f"/api/jobs/{job_id}/artifact")
    assert response.status_code == 404
    assert response.get_json()["error"] == error
    assert status.value in response.get_json()["details"]
    assert alice.get(f"/api/jobs/{job_id}").get_json()["data"]["job"]["artifact"] is None
    query = urlencode(artifact_download_query(runtime.settings.secret_key, str(job_id), alice.id))
    assert alice.get(f"{download_path(job_id)}?{query}").status_code == 404


@pytest.mark.parametrize("uri", ["s3://bucket/adapter_model.safetensors", "file:///etc/hostname"])
def test_a_file_pipeline_does_not_hold_is_shown_but_never_sent(
    alice: ApiUser, runtime: Runtime, uri: str
) -> None:
    job_id = _job(runtime, alice.id, JobStatus.COMPLETED, uri)
    artifact = alice.get(f"/api/jobs/{job_id}").get_json()["data"]["job"]["artifact"]
    assert (artifact["uri"], artifact["download_url"]) == (uri, None)
    query = urlencode(artifact_download_query(runtime.settings.secret_key, str(job_id), alice.id))
    response = alice.get(f"{download_path(job_id)}?{query}")
    assert response.status_code == 404
    assert response.get_json()["error"] == "Artifact not held here"
