from __future__ import annotations

import pytest

from settings import Settings, SettingsError


def test_embedded_default_needs_nothing(tmp_path) -> None:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert settings.is_sqlite
    assert settings.embedded
    assert settings.cycle_interval_seconds == 30
    assert settings.submit_batch_size == 5
    # the generated secret is kept, so sessions survive a restart
    assert Settings.from_env({"DATA_DIR": str(tmp_path)}).secret_key == settings.secret_key


def test_shared_infrastructure_requires_secret_key(tmp_path) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env({"DATA_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:6379/0"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CYCLE_INTERVAL_SECONDS", "soon"),
        ("SUBMIT_BATCH_SIZE", "0"),
        ("SUBMIT_BATCH_SIZE", "2.5"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "localhost:6379"),
        ("GPU_CLUSTER_API_URL", "cluster.local"),
        ("GPU_CLUSTER_BACKEND", "slurm"),
        ("LOG_FORMAT", "xml"),
        ("SECRET_KEY", "short"),
    ],
)
def test_malformed_setting_is_named(name: str, value: str, tmp_path) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"DATA_DIR": str(tmp_path), name: value})
    assert name in str(info.value)


def test_secrets_never_in_repr(tmp_path) -> None:
    settings = Settings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "SECRET_KEY": "s3cret-value-0123456789",
            "GPU_CLUSTER_API_KEY": "canary-key-42",
        }
    )
    shown = repr(settings) + str(settings)
    assert "s3cret-value" not in shown
    assert "canary-key-42" not in shown
    assert "gpu_cluster_api_key='***'" in shown


def test_postgres_url_uses_psycopg3(tmp_path) -> None:
    settings = Settings.from_env(
        {"DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://u@h/db", "SECRET_KEY": "x" * 20}
    )
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_startup_line_masks_database_and_redis_passwords(tmp_path) -> None:
    """Was: the start-up line printed DATABASE_URL and REDIS_URL with their passwords."""
    settings = Settings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "SECRET_KEY": "x" * 20,
            "DATABASE_URL": "postgresql://pipeline:pg-pass-canary@db.internal:5432/pipeline",
            "REDIS_URL": "redis://:redis-pass-canary@cache.internal:6379/0",
        }
    )
    shown = repr(settings)
    assert "pg-pass-canary" not in shown
    assert "redis-pass-canary" not in shown
    assert "postgresql+psycopg://pipeline:***@db.internal:5432/pipeline" in shown
    assert "redis://:***@cache.internal:6379/0" in shown
    assert settings.database_url.endswith("pg-pass-canary@db.internal:5432/pipeline")  # still usable


def test_url_without_password_is_shown_unchanged() -> None:
    from settings import mask_url_password

    assert mask_url_password("redis://cache:6379/0") == "redis://cache:6379/0"
    assert mask_url_password("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert mask_url_password(None) is None


def test_poll_concurrency_is_read_and_bounded(tmp_path) -> None:
    base = {"DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).poll_concurrency == 128
    assert Settings.from_env(base | {"POLL_CONCURRENCY": "32"}).poll_concurrency == 32
    for value in ("0", "-4", "1.5", "many", "5000"):
        with pytest.raises(SettingsError, match="POLL_CONCURRENCY"):
            Settings.from_env(base | {"POLL_CONCURRENCY": value})


def test_the_cluster_client_polls_with_the_configured_concurrency(tmp_path) -> None:
    from jobs.cluster import ClusterClient, make_backend

    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "POLL_CONCURRENCY": "7"})
    client = make_backend(settings)
    try:
        assert isinstance(client, ClusterClient)
        assert client.poll_concurrency == 7
    finally:
        client.close()
