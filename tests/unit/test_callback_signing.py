"""The one signing scheme shared by the trainer (signs callbacks) and the callback endpoint (verifies)."""

from __future__ import annotations

import json

import pytest

from contract.signing import (
    JOB_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    callback_headers,
    derive_job_secret,
    signature_problem,
)

KEY = "k" * 32
NOW = 1_800_000_000
BODY = json.dumps({"job_id": "job-1", "status": "running", "current_step": 3}).encode()


def _signed(secret: str, body: bytes = BODY, at: int = NOW) -> tuple[str, str]:
    headers = callback_headers(secret, at, body)
    return headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]


def test_a_valid_signature_verifies() -> None:
    secret = derive_job_secret(KEY, "job-1")
    timestamp, signature = _signed(secret)
    assert signature_problem(secret, timestamp, signature, BODY, now=NOW) is None
    assert signature_problem(secret, timestamp, signature, BODY.decode(), now=NOW + 299) is None


def test_headers_carry_the_job_id_and_verify() -> None:
    secret = derive_job_secret(KEY, "job-1")
    headers = callback_headers(secret, NOW, BODY, job_id="job-1")
    assert headers[JOB_ID_HEADER] == "job-1"
    assert (
        signature_problem(secret, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], BODY, now=NOW) is None
    )


def test_a_signature_made_with_another_secret_key_fails() -> None:
    timestamp, signature = _signed(derive_job_secret("x" * 32, "job-1"))
    assert signature_problem(derive_job_secret(KEY, "job-1"), timestamp, signature, BODY, now=NOW) == (
        "signature does not match"
    )


def test_one_jobs_secret_cannot_sign_for_another_job() -> None:
    other_secret = derive_job_secret(KEY, "job-2")
    assert other_secret != derive_job_secret(KEY, "job-1")
    timestamp, signature = _signed(other_secret)
    assert signature_problem(derive_job_secret(KEY, "job-1"), timestamp, signature, BODY, now=NOW) == (
        "signature does not match"
    )


@pytest.mark.parametrize("skew", [301, -301, 10_000])
def test_a_stale_or_future_timestamp_fails(skew: int) -> None:
    secret = derive_job_secret(KEY, "job-1")
    timestamp, signature = _signed(secret)
    assert signature_problem(secret, timestamp, signature, BODY, now=NOW + skew) == (
        "timestamp outside the allowed window"
    )


def test_a_tampered_body_or_timestamp_fails() -> None:
    secret = derive_job_secret(KEY, "job-1")
    timestamp, signature = _signed(secret)
    tampered_signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    for stamp, sent, body in [
        (timestamp, signature, BODY.replace(b"3", b"4")),
        (str(NOW + 1), signature, BODY),
        (timestamp, tampered_signature, BODY),
    ]:
        assert signature_problem(secret, stamp, sent, body, now=NOW) == "signature does not match"


@pytest.mark.parametrize(
    ("timestamp", "signature", "reason"),
    [
        (None, "v1=ab", "missing signature headers"),
        (str(NOW), None, "missing signature headers"),
        ("12.5", "v1=ab", "malformed timestamp"),
        ("\u00b2", "v1=ab", "malformed timestamp"),  # a Unicode digit int() cannot read
        (str(NOW), "v0=ab", "unsupported signature format"),
        (str(NOW), "v1=", "unsupported signature format"),
        (str(NOW), "v1=\u00e9\u00e9", "signature does not match"),
    ],
)
def test_missing_or_malformed_headers_fail_with_a_reason(
    timestamp: str | None, signature: str | None, reason: str
) -> None:
    assert signature_problem(derive_job_secret(KEY, "job-1"), timestamp, signature, BODY, now=NOW) == reason


def test_deriving_needs_a_key_and_a_job_id() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        derive_job_secret("", "job-1")
    with pytest.raises(ValueError, match="job_id"):
        derive_job_secret(KEY, "")
