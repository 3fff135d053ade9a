"""What `/training/compare` reads, through services.job_compare (the function behind
`GET /api/jobs/compare`), in one short transaction per read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.runtime import get_runtime
from pages._signed_in import signed_in_user_id
from services.errors import NotFound, ValidationError
from services.job_compare import compare_jobs, parse_compare_ids


@dataclass(frozen=True)
class CompareRead:
    """The comparison, or the sentence that says why there is none (never both)."""

    data: dict[str, Any] | None
    problem: str | None = None


def read_comparison(raw_ids: str | None) -> CompareRead:
    """The signed-in user's jobs named in ``?jobs=``; a refusal names no other user's job."""
    user_id = signed_in_user_id()
    if user_id is None:
        return CompareRead(None, "Sign in to compare your jobs.")
    try:
        ids = parse_compare_ids(raw_ids)
    except ValidationError as exc:
        return CompareRead(None, f"{exc.message}: {exc.errors['ids']}.")
    runtime = get_runtime()
    try:
        with runtime.transaction() as session:
            return CompareRead(compare_jobs(session, user_id, ids, cache=runtime.redis))
    except NotFound:
        return CompareRead(
            None,
            "Job not found: at least one of these ids is not a training job in your account. "
            "Choose the jobs again from your jobs list.",
        )


def signature(data: dict[str, Any]) -> list[list[Any]]:
    """What a tick compares to decide whether anything changed: each job's status and last step."""
    return [[e["job"]["id"], e["job"]["status"], e["last_step"], e["outcome"]["cost"]] for e in data["jobs"]]
