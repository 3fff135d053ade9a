"""A job's stored settings as the request that would create it again (Clone and Retry).

Read from the job's API JSON through the create request's own field list
(``services.job_config.TOP_LEVEL_FIELDS``), so a setting the request gains later (a per-job
option) is copied without a change here. The caller has checked that the job is the user's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.job_config import TOP_LEVEL_FIELDS


def clone_request(job: Mapping[str, Any], stored: object = None) -> dict[str, Any]:
    """The create-job body for a copy of ``job`` (API JSON); fields it does not hold are left out.

    A request field the JSON lacks is read from ``stored`` (the job row) when it has an attribute
    of that name, so a per-job option kept on the row is copied even before the JSON shows it.
    """
    request: dict[str, Any] = {}
    for key in sorted(TOP_LEVEL_FIELDS):
        value = job[key] if key in job else getattr(stored, key, None)
        if value is not None:
            request[key] = value
    for group in ("hyperparameters", "gpu_config"):
        if group in request:
            request[group] = dict(request[group])
    return request
