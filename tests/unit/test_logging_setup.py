from __future__ import annotations

import json
import logging

import pytest

from logging_setup import configure_logging, log_context
from settings import Settings


@pytest.fixture
def json_settings(tmp_path) -> Settings:
    return Settings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "LOG_FORMAT": "json",
            "GPU_CLUSTER_API_KEY": "canary-9d1e",
            "SECRET_KEY": "s" * 32,
        }
    )


def test_json_lines_carry_context_and_no_secrets(json_settings: Settings, capsys) -> None:
    configure_logging(json_settings, role="worker")
    log = logging.getLogger("jobs.cycle")
    with log_context(cycle_id="c-42"):
        log.info("polled", extra={"job_id": "j-1", "external_job_id": "ext-9"})
    log.info("after")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    start, polled, after = lines
    assert start["role"] == "worker"
    assert "starting worker" in start["message"]
    assert "canary-9d1e" not in json.dumps(lines)
    assert "s" * 32 not in json.dumps(lines)
    assert polled["cycle_id"] == "c-42"
    assert polled["job_id"] == "j-1"
    assert polled["external_job_id"] == "ext-9"
    assert "cycle_id" not in after
    logging.getLogger().handlers.clear()
