"""`/api/jobs/<id>/artifact`: a completed job's trained adapter, and its owner-only signed download.

The download link comes from `GET /api/jobs/<id>` (`job.artifact.download_url`) or from here: signed
for one job and one user and expiring (contract/signing.py). Another user's link, a tampered or an
expired one all get the same 403, checked before anything is looked up, so it reveals nothing.
"""

from __future__ import annotations

from flask import Blueprint, Response, request, send_file

from api.errors import ApiError
from api.jobs_api import artifact_access
from api.request_parsing import current_user_id, register_service_errors, success
from api.runtime import get_runtime
from contract.signing import verify_artifact_signature
from services.artifacts import artifact_for_download, job_artifact_json, require_artifact
from services.errors import job_not_found
from services.training_jobs import get_job_for_user, parse_job_id

bp = Blueprint("artifacts_api", __name__, url_prefix="/api/jobs")
register_service_errors(bp)
FORBIDDEN = ApiError(403, "Forbidden", "The download link is invalid or has expired.")


@bp.get("/<job_id>/artifact")
def artifact(job_id: str) -> tuple[Response, int]:
    """`{artifact}` with a fresh download link when PIPELINE holds the file.

    :raise 404: no such job for this user, or no artifact (yet): the details say which.
    """
    runtime = get_runtime()
    user_id = current_user_id()
    with runtime.transaction() as session:
        job = get_job_for_user(session, user_id, job_id)
        if job is None:
            missing = job_not_found(job_id)
            raise ApiError(404, missing.message, missing.details)
        require_artifact(session, job)
        access = artifact_access(runtime)
        body = job_artifact_json(
            session, job, user_id=user_id, secret_key=access.secret_key, data_dir=access.data_dir
        )
    return success({"artifact": body})


@bp.get("/<job_id>/artifact/download")
def download(job_id: str) -> Response:
    """The adapter file's bytes, to the signed-in owner holding an unexpired link.

    :raise 403: a link that is not this user's, tampered or expired (nothing else is said).
    :raise 404: the job's artifact is not (or no longer) a file PIPELINE holds.
    """
    runtime = get_runtime()
    user_id = current_user_id()
    parsed = parse_job_id(job_id)
    signature = request.args.get("signature")
    if (
        parsed is None
        or signature is None
        or not signature.isascii()
        or not verify_artifact_signature(
            runtime.settings.secret_key, str(parsed), user_id, request.args.get("expires"), signature
        )
    ):
        raise FORBIDDEN
    with runtime.transaction() as session:
        path, name = artifact_for_download(session, user_id, parsed, runtime.settings.data_dir)
    return send_file(path, as_attachment=True, download_name=name, max_age=0, conditional=False)
