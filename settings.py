"""One Settings object, read from the environment once at start-up.

Every process role (web, worker, scheduler, demo, cli) builds its Settings through `Settings.from_env()`,
so a missing or malformed value stops the process at start with one line naming it, instead of
surfacing as a confusing error in the middle of a cycle.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Every environment variable Settings reads; .env.example and docker-compose.yml are checked against it.
ENV_VARS = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "GPU_CLUSTER_API_URL",
    "GPU_CLUSTER_API_KEY",
    "GPU_CLUSTER_BACKEND",
    "RAY_ADDRESS",
    "RAY_ENTRYPOINT",
    "RAY_REQUEST_GPUS",
    "PUBLIC_BASE_URL",
    "CYCLE_INTERVAL_SECONDS",
    "SUBMIT_BATCH_SIZE",
    "UI_POLL_SECONDS",
    "LOST_AFTER_SECONDS",
    "CLUSTER_CLOCK_SKEW_SECONDS",
    "MAX_UPLOAD_BYTES",
    "MAX_DATASET_LINE_BYTES",
    "LOGIN_ATTEMPTS_PER_MINUTE",
    "LOGIN_FAILURES_PER_ACCOUNT",
    "REGISTRATION_OPEN",
    "REGISTRATIONS_PER_HOUR",
    "MAX_ACTIVE_JOBS_PER_USER",
    "MAX_GPUS_PER_USER",
    "MAX_ACTIVE_SPEND_PER_USER",
    "TRUSTED_PROXIES",
    "WEBHOOKS_ALLOW_PRIVATE",
    "WEBHOOK_RETRY_SECONDS",
    "DATA_DIR",
    "LOG_FORMAT",
)
EMBEDDED_DATABASE = "pipeline.sqlite3"  # in DATA_DIR, when DATABASE_URL is not set

DEFAULT_CLUSTER_CLOCK_SKEW_SECONDS = 300.0
DEFAULT_POLL_CONCURRENCY = 128
MAX_POLL_CONCURRENCY = 4096  # one socket each: past this a typo exhausts file descriptors


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it and says what is expected."""


def _secret_repr(value: str) -> str:
    return "'***'" if value else "''"


def mask_url_password(url: str | None) -> str | None:
    """`url` with its password replaced by ***, so a start-up line can name the server and user."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


# Shown with the password masked by `Settings.__repr__` (the start-up line prints the whole object).
_URL_FIELDS = frozenset({"database_url", "redis_url"})


@dataclass(frozen=True)
class Settings:
    """Process configuration. Secrets are masked in `repr` so they never reach a log line."""

    data_dir: Path = Path(".data")
    database_url: str = ""
    redis_url: str | None = None
    gpu_cluster_api_url: str = "http://127.0.0.1:8800"
    gpu_cluster_api_key: str = field(default="", repr=False)
    gpu_cluster_backend: str = "http"
    # Status requests in flight during a cycle's poll sweep: the cluster must accept that many
    # connections at once (docs/architecture.md §5 has the measurement behind the default).
    poll_concurrency: int = DEFAULT_POLL_CONCURRENCY
    ray_address: str = "http://127.0.0.1:8265"  # the Ray dashboard (Jobs REST API), backend ray
    ray_entrypoint: str = "python -m trainer"  # the command a Ray job runs (the cluster's Python)
    ray_request_gpus: bool = True  # entrypoint_num_gpus from gpu_config.count; off for CPU-only clusters
    secret_key: str = field(default="", repr=False)
    public_base_url: str = "http://127.0.0.1:8050"
    cycle_interval_seconds: float = 30.0
    submit_batch_size: int = 5
    ui_poll_seconds: float = 5.0
    lost_after_seconds: float = 600.0
    # How far a cluster's clock may run ahead of ours before its finish time is not believed for
    # billing (services/plausibility.py); a finish past now + this is billed as now.
    cluster_clock_skew_seconds: float = DEFAULT_CLUSTER_CLOCK_SKEW_SECONDS
    max_upload_bytes: int = 200 * 1024 * 1024
    max_dataset_line_bytes: int = 8 * 1024 * 1024  # one JSONL line; longer ones are refused by number
    login_attempts_per_minute: int = 10  # per client address, every sign-in attempt
    login_failures_per_account: int = 5  # failed sign-ins per account *and* address per minute, escalating
    registration_open: bool = False  # anyone may register; otherwise CLI users and invite links only
    registrations_per_hour: int = 5  # registration attempts per client address
    max_active_jobs_per_user: int = 5
    max_gpus_per_user: int = 16  # sum of gpu_config.count over the user's active jobs
    max_active_spend_per_user: Decimal = Decimal("1000")  # USD, sum of active jobs' estimated cost
    trusted_proxies: int = 0  # reverse proxies in front of the web process that set X-Forwarded-*
    # Outgoing webhooks (docs/security.md): private/loopback targets only for on-premise installs,
    # and the pauses between delivery attempts (RQ Retry intervals; len = retries after the first).
    webhooks_allow_private: bool = False
    webhook_retry_seconds: tuple[int, ...] = (10, 60, 300, 1800)
    log_format: str = "text"
    session_cookie_secure: bool = False

    def __repr__(self) -> str:
        def show(name: str, visible: bool) -> str:
            value = getattr(self, name)
            if not visible:
                return _secret_repr(value)
            return repr(mask_url_password(value) if name in _URL_FIELDS else value)

        shown = ", ".join(f"{f.name}={show(f.name, f.repr)}" for f in fields(self))
        return f"Settings({shown})"

    @property
    def embedded(self) -> bool:
        """Embedded mode: no Redis, so the cycle runs on an in-process timer."""
        return not self.redis_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require_secrets: bool = True) -> Settings:
        """Read settings from `env` (default: os.environ).

        Raises:
            SettingsError: a value is malformed, or (with require_secrets) SECRET_KEY is missing
                while the process talks to shared infrastructure (REDIS_URL or a non-SQLite database).
        """
        env = os.environ if env is None else env
        data_dir = Path(env.get("DATA_DIR", ".data")).expanduser()
        database_url = env.get("DATABASE_URL") or f"sqlite:///{(data_dir / EMBEDDED_DATABASE).resolve()}"
        if not database_url.startswith(("sqlite", "postgresql")):
            raise SettingsError(
                "DATABASE_URL must start with postgresql:// (or postgresql+psycopg://) or sqlite:///"
            )
        if database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
        redis_url = env.get("REDIS_URL") or None
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("REDIS_URL must be a redis:// or rediss:// URL (unset it for embedded mode)")

        secret_key = env.get("SECRET_KEY", "")
        shared = redis_url is not None or not database_url.startswith("sqlite")
        if not secret_key:
            if require_secrets and shared:
                raise SettingsError(
                    "SECRET_KEY is required when REDIS_URL or a PostgreSQL DATABASE_URL is set "
                    "(a long random string, the same for every process)"
                )
            secret_key = _local_secret(data_dir)
        elif len(secret_key) < 16:
            raise SettingsError("SECRET_KEY must be at least 16 characters")

        backend = env.get("GPU_CLUSTER_BACKEND", "http")
        if backend not in ("http", "ray", "local"):
            raise SettingsError("GPU_CLUSTER_BACKEND must be 'http', 'ray' or 'local'")
        ray_entrypoint = env.get("RAY_ENTRYPOINT", cls.ray_entrypoint).strip()
        if not ray_entrypoint:
            raise SettingsError("RAY_ENTRYPOINT must be a command, e.g. 'python -m trainer'")
        ray_gpus = env.get("RAY_REQUEST_GPUS", "true").strip().lower()
        if ray_gpus not in ("1", "0", "true", "false", "yes", "no"):
            raise SettingsError("RAY_REQUEST_GPUS must be true or false")
        registration_open = env.get("REGISTRATION_OPEN", "false").strip().lower()
        if registration_open not in ("1", "0", "true", "false", "yes", "no"):
            raise SettingsError("REGISTRATION_OPEN must be true or false")
        allow_private = env.get("WEBHOOKS_ALLOW_PRIVATE", "false").strip().lower()
        if allow_private not in ("1", "0", "true", "false", "yes", "no"):
            raise SettingsError("WEBHOOKS_ALLOW_PRIVATE must be true or false")
        log_format = env.get("LOG_FORMAT", "text")
        if log_format not in ("text", "json"):
            raise SettingsError("LOG_FORMAT must be 'text' or 'json'")
        public_base_url = env.get("PUBLIC_BASE_URL", cls.public_base_url).rstrip("/")
        cluster_url = env.get("GPU_CLUSTER_API_URL", cls.gpu_cluster_api_url).rstrip("/")
        ray_address = env.get("RAY_ADDRESS", cls.ray_address).rstrip("/")
        for name, url in (
            ("PUBLIC_BASE_URL", public_base_url),
            ("GPU_CLUSTER_API_URL", cluster_url),
            ("RAY_ADDRESS", ray_address),
        ):
            if not url.startswith(("http://", "https://")):
                raise SettingsError(f"{name} must be an http:// or https:// URL")

        return cls(
            data_dir=data_dir,
            database_url=database_url,
            redis_url=redis_url,
            gpu_cluster_api_url=cluster_url,
            gpu_cluster_api_key=env.get("GPU_CLUSTER_API_KEY", ""),
            gpu_cluster_backend=backend,
            poll_concurrency=_poll_concurrency(env),
            ray_address=ray_address,
            ray_entrypoint=ray_entrypoint,
            ray_request_gpus=ray_gpus in ("1", "true", "yes"),
            secret_key=secret_key,
            public_base_url=public_base_url,
            cycle_interval_seconds=_env_number(env, "CYCLE_INTERVAL_SECONDS", 30.0, minimum=0.1),
            submit_batch_size=int(_env_number(env, "SUBMIT_BATCH_SIZE", 5, minimum=1, integer=True)),
            ui_poll_seconds=_env_number(env, "UI_POLL_SECONDS", 5.0, minimum=0.5),
            lost_after_seconds=_env_number(env, "LOST_AFTER_SECONDS", 600.0, minimum=1),
            cluster_clock_skew_seconds=_env_number(
                env, "CLUSTER_CLOCK_SKEW_SECONDS", DEFAULT_CLUSTER_CLOCK_SKEW_SECONDS, minimum=0
            ),
            max_upload_bytes=int(
                _env_number(env, "MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1, integer=True)
            ),
            max_dataset_line_bytes=int(
                _env_number(env, "MAX_DATASET_LINE_BYTES", 8 * 1024 * 1024, minimum=1024, integer=True)
            ),
            login_attempts_per_minute=int(
                _env_number(env, "LOGIN_ATTEMPTS_PER_MINUTE", 10, minimum=1, integer=True)
            ),
            login_failures_per_account=int(
                _env_number(env, "LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1, integer=True)
            ),
            registration_open=registration_open in ("1", "true", "yes"),
            registrations_per_hour=int(
                _env_number(env, "REGISTRATIONS_PER_HOUR", 5, minimum=1, integer=True)
            ),
            max_active_jobs_per_user=int(
                _env_number(env, "MAX_ACTIVE_JOBS_PER_USER", 5, minimum=1, integer=True)
            ),
            max_gpus_per_user=int(_env_number(env, "MAX_GPUS_PER_USER", 16, minimum=1, integer=True)),
            max_active_spend_per_user=_env_money(env, "MAX_ACTIVE_SPEND_PER_USER", Decimal("1000")),
            trusted_proxies=int(_env_number(env, "TRUSTED_PROXIES", 0, minimum=0, integer=True)),
            webhooks_allow_private=allow_private in ("1", "true", "yes"),
            webhook_retry_seconds=_env_delays(env, "WEBHOOK_RETRY_SECONDS", cls.webhook_retry_seconds),
            log_format=log_format,
            session_cookie_secure=public_base_url.startswith("https://"),
        )


def _env_number(
    env: Mapping[str, str], name: str, default: float, *, minimum: float, integer: bool = False
) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise SettingsError(f"{name} must be {kind} >= {minimum:g}, got {raw!r}") from None
    if value < minimum or value != value:
        raise SettingsError(f"{name} must be >= {minimum:g}, got {raw!r}")
    return value


def _poll_concurrency(env: Mapping[str, str]) -> int:
    value = int(_env_number(env, "POLL_CONCURRENCY", DEFAULT_POLL_CONCURRENCY, minimum=1, integer=True))
    if value > MAX_POLL_CONCURRENCY:
        raise SettingsError(f"POLL_CONCURRENCY must be at most {MAX_POLL_CONCURRENCY}, got {value}")
    return value


def _env_delays(env: Mapping[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """A comma-separated list of whole seconds (0 to 86400 each, at most 10), e.g. `10,60,300`."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    parts = [part.strip() for part in raw.split(",")]
    if len(parts) > 10 or not all(p.isascii() and p.isdigit() and int(p) <= 86400 for p in parts):
        raise SettingsError(f"{name} must be up to 10 comma-separated whole seconds (0-86400), got {raw!r}")
    return tuple(int(part) for part in parts)


def _env_money(env: Mapping[str, str], name: str, default: Decimal) -> Decimal:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise SettingsError(f"{name} must be an amount in USD, like 500 or 250.50, got {raw!r}") from None
    if not value.is_finite() or value <= 0 or value > Decimal("1e9"):
        raise SettingsError(f"{name} must be a positive amount in USD up to 1e9, got {raw!r}")
    return value.quantize(Decimal("0.01"))


def _local_secret(data_dir: Path) -> str:
    """A per-install secret for the embedded default, kept in the data dir so sessions survive restarts."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value
