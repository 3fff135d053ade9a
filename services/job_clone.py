"""A job's stored settings as the request that would create it again (Clone and Retry).

Read from the job's API JSON through the create request's own field list
(``services.job_config.TOP_LEVEL_FIELDS``), so a setting the request gains later (a per-job
option) is copied without a change here. The caller has checked that the job is the user's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.job_config import TOP_LEVEL_FIELDS


def clone_request(job: Mapping[str, Any]) -> dict[str, Any]:
    """The create-job body for a copy of ``job`` (API JSON); fields it does not hold are left out."""
    request = {key: job[key] for key in sorted(TOP_LEVEL_FIELDS) if job.get(key) is not None}
    for group in ("hyperparameters", "gpu_config"):
        if group in request:
            request[group] = dict(request[group])
    return request
