"""`/storage/datasets/<path>`: signed, time-limited dataset downloads for the GPU cluster.

The only file route without a session: the HMAC signature (contract/signing.py) is the credential.
A bad, tampered or expired signature gets 403 and not one byte of the file; the path is confined
to DATA_DIR/datasets so a signature can never be stretched to another file.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, request, send_file

from api.errors import error_response
from api.runtime import get_runtime
from contract.signing import STORAGE_PREFIX, verify_storage_signature
from services.dataset_files import storage_file

bp = Blueprint("storage", __name__)


@bp.get(STORAGE_PREFIX + "<path:storage_path>")
def serve_dataset(storage_path: str) -> Response:
    runtime = get_runtime()
    signed_path = STORAGE_PREFIX + quote(storage_path)
    signature = request.args.get("signature")
    # hmac.compare_digest raises on non-ASCII text: such a value cannot be our hex digest anyway.
    if (
        signature is None
        or not signature.isascii()
        or not verify_storage_signature(
            runtime.settings.secret_key, signed_path, request.args.get("expires"), signature
        )
    ):
        return error_response(403, "Forbidden", "The download link is invalid or has expired.")
    path = storage_file(runtime.settings.data_dir, storage_path)
    if path is None or not path.is_file():
        return error_response(404, "Not found", "The dataset file no longer exists.")
    return send_file(path, mimetype="application/x-ndjson", max_age=0, conditional=False)
