"""docker-compose.yml, .env.example and the Dockerfile cannot drift from the CLI and the settings.

The images cannot be built on this machine (no Docker engine), so these checks, and the e2e test
that runs the same commands as local processes, are what keep the deployment files honest.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from cli import build_parser
from settings import ENV_VARS, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
ROLES = {"web", "worker", "scheduler", "migrate", "cluster-sim"}


def test_every_role_runs_a_real_cli_command() -> None:
    services = COMPOSE["services"]
    assert set(services) >= ROLES
    for role in ROLES:
        command = services[role]["command"]
        args = build_parser().parse_args(command)  # SystemExit here means the CLI has no such command
        assert args.command == command[0]


def test_dockerfile_entrypoint_and_default_role() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", dockerfile, re.M)
    cmd = re.search(r"^CMD (.+)$", dockerfile, re.M)
    assert entrypoint is not None
    assert cmd is not None
    assert yaml.safe_load(entrypoint.group(1)) == ["lora-pipeline"]
    build_parser().parse_args(yaml.safe_load(cmd.group(1)))
    assert re.search(r"^USER pipeline$", dockerfile, re.M), "the image must not run as root"
    assert "HEALTHCHECK" in dockerfile
    assert "/api/health" in dockerfile


def test_scheduler_is_single_and_workers_scale() -> None:
    services = COMPOSE["services"]
    assert services["scheduler"]["deploy"]["replicas"] == 1
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["migrate"]["restart"] == "no"
    for role in ("web", "worker", "scheduler"):
        depends = services[role]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["cluster-sim"]["profiles"] == ["demo"]


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_env_example_lists_exactly_the_settings() -> None:
    assert set(_env_example()) == set(ENV_VARS)


def test_env_example_is_itself_valid(tmp_path: Path) -> None:
    env = {**_env_example(), "DATA_DIR": str(tmp_path)}
    settings = Settings.from_env(env)
    assert settings.redis_url == "redis://redis:6379/0"


def test_compose_environment_names_are_settings() -> None:
    anchor = COMPOSE["x-pipeline"]["environment"]
    assert set(anchor) <= set(ENV_VARS)


@pytest.mark.parametrize("name", sorted(ENV_VARS))
def test_settings_read_every_listed_variable(name: str) -> None:
    source = (ROOT / "settings.py").read_text()
    assert f'"{name}"' in source.split("ENV_VARS = (", 1)[1], name
    assert source.count(f'"{name}"') >= 2, f"{name} is listed but never read"


def test_readme_quickstart_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2
    assert commands[0].endswith("lora-pipeline demo")
    assert shlex.split(commands[1]) == ["bash", ".ci/run"]


def test_the_readme_states_the_upload_limits_the_setting_gives() -> None:
    """The datasets page shows `format_file_size(page_upload_limit())`; the README must say the same."""
    from components.dataset_view import format_file_size
    from pages._dataset_upload import upload_limit_for

    limit = Settings().max_upload_bytes
    (row,) = [line for line in (ROOT / "README.md").read_text().splitlines() if "`MAX_UPLOAD_BYTES`" in line]
    assert f"`{limit}`" in row
    assert f"API up to {format_file_size(limit)}" in row
    assert f"page (base64 in the request) up to {format_file_size(upload_limit_for(limit))}" in row
