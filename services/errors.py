"""Typed failures of the service layer, shared by the JSON API and the Dash pages.

The service functions raise these; the edge turns them into `{error, details}` with a status
(api/) or into a form message (pages/). Keeping them free of HTTP lets a Dash callback show the
same per-field text the API returns.
"""

from __future__ import annotations

BIGINT_MAX = 2**63 - 1  # ids are bigint: a larger id cannot exist and must not reach the driver


class ServiceError(Exception):
    """Base class: `message` is safe to show the user; `details` carries structured specifics."""

    status = 400

    def __init__(self, message: str, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else message


class ValidationError(ServiceError):
    """Bad input. `errors` maps a field path (`hyperparameters.rank`, `file`) to why it is wrong."""

    status = 400

    def __init__(self, errors: dict[str, str], message: str = "Invalid input") -> None:
        super().__init__(message, dict(errors))
        self.errors = dict(errors)


class NotFound(ServiceError):
    """Does not exist, or is not the caller's: both look the same from outside (docs/architecture.md §10)."""

    status = 404


def job_not_found(job_id: object) -> NotFound:
    """The one answer for a job that is missing or someone else's, in the specification's words."""
    return NotFound("Job not found or access denied", f"No job {job_id} in your account.")


class Conflict(ServiceError):
    """The request is valid but the current state refuses it (e.g. deleting a dataset in use)."""

    status = 409


class TooLarge(ServiceError):
    """An upload beyond the configured limit."""

    status = 413


class InvalidState(ServiceError):
    """The object exists but its state forbids the action (cancelling a finished job): 400 as in the seed."""

    status = 400
