"""A completed job's trained adapter: what the user may see of it, and the file when PIPELINE holds it.

The cluster reports the artifact (URI, size, checksum) with the completion; ingest stores it
(services/ingest.py). PIPELINE *holds* the file when its URI is `file://` and the file lies under
DATA_DIR (the local backend writes DATA_DIR/runs/<job>/adapter/...; a Ray cluster on shared
storage can write there too): only then is there a download, through an owner-only signed link
(contract/signing.py). Any other URI (s3://, a path elsewhere) is shown, never opened.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from contract.signing import artifact_download_query
from db.models import ACTIVE_STATUSES, ModelArtifact, TrainingJob
from services.errors import NotFound, job_not_found
from services.serialize import timestamp


def download_path(job_id: uuid.UUID | str) -> str:
    return f"/api/jobs/{job_id}/artifact/download"


def held_file(data_dir: Path, storage_uri: str) -> Path | None:
    """The artifact's file when PIPELINE holds it: a `file://` URI naming a regular file under DATA_DIR."""
    parts = urlsplit(storage_uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    root = data_dir.resolve()
    try:
        path = Path(unquote(parts.path)).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def artifact_json(artifact: ModelArtifact, *, download_url: str | None) -> dict[str, Any]:
    """`job.artifact` of the job API and the monitor: `download_url` is None when PIPELINE lacks the file."""
    return {
        "id": artifact.id,
        "uri": artifact.storage_uri,
        "size_bytes": artifact.size_bytes,
        "checksum": artifact.checksum,
        "created_at": timestamp(artifact.created_at),
        "download_url": download_url,
    }


def job_artifact_json(
    session: Session, job: TrainingJob, *, user_id: int, secret_key: str, data_dir: Path
) -> dict[str, Any] | None:
    """The job's artifact with a fresh signed link for `user_id` when the file is held; None without one."""
    artifact = _artifact_of(session, job)
    if artifact is None:
        return None
    url = None
    if held_file(data_dir, artifact.storage_uri) is not None:
        query = artifact_download_query(secret_key, str(job.id), user_id)
        url = f"{download_path(job.id)}?{urlencode(query)}"
    return artifact_json(artifact, download_url=url)


def artifact_for_download(
    session: Session, user_id: int, job_id: uuid.UUID, data_dir: Path
) -> tuple[Path, str]:
    """The file to send and its download name, for the job's owner.

    Raises:
        NotFound: no such job for this user, no artifact yet, or a file PIPELINE does not hold.
    """
    job = session.scalar(select(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.user_id == user_id))
    if job is None:
        raise job_not_found(job_id)
    artifact = require_artifact(session, job)
    path = held_file(data_dir, artifact.storage_uri)
    if path is None:
        raise NotFound(
            "Artifact not held here",
            f"The adapter is stored at {artifact.storage_uri}; PIPELINE has no copy to send.",
        )
    return path, f"job-{job.id}-{path.name}"


def require_artifact(session: Session, job: TrainingJob) -> ModelArtifact:
    """The job's artifact; a clear NotFound saying why there is none (still running, or ended without one)."""
    artifact = _artifact_of(session, job)
    if artifact is not None:
        return artifact
    if job.status in {status.value for status in ACTIVE_STATUSES}:
        raise NotFound(
            "No artifact yet", f"The job is {job.status}; its adapter appears when training completes."
        )
    raise NotFound(
        "No artifact", f"The job is {job.status} and the cluster reported no trained adapter for it."
    )


def _artifact_of(session: Session, job: TrainingJob) -> ModelArtifact | None:
    if job.artifact_id is None:  # set with the row at completion: a job without one needs no query
        return None
    return session.scalar(select(ModelArtifact).where(ModelArtifact.job_id == job.id))
