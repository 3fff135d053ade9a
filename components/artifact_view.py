"""The trained adapter of a completed job, as the monitor shows it: where it is, size, checksum, download.

Takes the API's `job.artifact` (services/artifacts.py: `artifact_json`). The download is a plain link
to the owner-only signed URL, present only when PIPELINE holds the file; otherwise the card says
where the cluster put it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from components.aria import decorative_icon
from components.dataset_view import format_file_size

ARTIFACT_DOWNLOAD = "mon-artifact-download"
CHECKSUM_SHOWN = 16  # hex digits shown; the full value is the element's title and copyable text


def short_checksum(checksum: str | None) -> str:
    """``sha256:3f7a9c…`` for display; the algorithm prefix stays so the user knows what to run."""
    if not checksum:
        return "—"
    algorithm, _, digest = checksum.partition(":")
    if not digest:
        return checksum[:CHECKSUM_SHOWN] + ("…" if len(checksum) > CHECKSUM_SHOWN else "")
    return f"{algorithm}:{digest[:CHECKSUM_SHOWN]}…" if len(digest) > CHECKSUM_SHOWN else checksum


def artifact_card(artifact: Mapping[str, Any] | None) -> dbc.Card | None:
    """A small card for the adapter; None when the job has none (nothing is drawn)."""
    if not artifact:
        return None
    checksum = artifact.get("checksum")
    facts = [
        html.Dt("Size", className="col-sm-3 col-lg-2"),
        html.Dd(format_file_size(artifact.get("size_bytes")), className="col-sm-9 col-lg-10"),
        html.Dt("Checksum", className="col-sm-3 col-lg-2"),
        html.Dd(html.Code(short_checksum(checksum), title=checksum or ""), className="col-sm-9 col-lg-10"),
        html.Dt("Location", className="col-sm-3 col-lg-2"),
        html.Dd(
            html.Code(str(artifact.get("uri") or "—"), className="text-break"), className="col-sm-9 col-lg-10"
        ),
    ]
    url = artifact.get("download_url")
    action: Any = (
        html.A(
            [decorative_icon("bi-download", "me-1"), "Download adapter"],
            id=ARTIFACT_DOWNLOAD,
            href=str(url),
            className="btn btn-primary btn-sm",
            download="",
            rel="nofollow",
        )
        if url
        else html.Small(
            "The cluster keeps this file; PIPELINE has no copy to send. Fetch it from the location above.",
            className="text-body-secondary",
        )
    )
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2(
                    [decorative_icon("bi-box-seam", "me-2"), "Trained adapter"],
                    className="h6 card-title",
                ),
                html.Dl(facts, className="row mb-2 small"),
                action,
            ]
        ),
        className="mb-3 monitor-artifact",
    )
