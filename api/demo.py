"""`lora-pipeline demo`: the whole product in one process on SQLite, for a first look in seconds.

No Redis and no PostgreSQL: the processor cycle runs on an in-process timer and the simulated
cluster on a local port. Everything else is the same code the production processes run.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from sqlalchemy import select

from api.runtime import Runtime
from db.migrate import upgrade
from db.models import User
from settings import Settings

DEMO_EMAIL = "demo@pipeline.local"
# The demo's cluster trains this many times faster than real time, and the cycle runs this often,
# so a small first job trains in tens of seconds: quick, yet slow enough to watch live.
DEMO_TIME_SCALE = 5.0
DEMO_CYCLE_SECONDS = 2.0


def ensure_demo_user(runtime: Runtime, data_dir: Path) -> tuple[str, str]:
    """Create the demo user once; its password is kept in the data dir so restarts print the same one."""
    from api.accounts import create_user

    password_file = data_dir / "demo_password"
    with runtime.transaction() as session:
        exists = session.scalar(select(User).where(User.email == DEMO_EMAIL)) is not None
        if exists and password_file.exists():
            return DEMO_EMAIL, password_file.read_text().strip()
        password = secrets.token_urlsafe(9)
        if exists:
            from werkzeug.security import generate_password_hash

            user = session.scalar(select(User).where(User.email == DEMO_EMAIL))
            assert user is not None
            user.password_hash = generate_password_hash(password)
        else:
            create_user(session, DEMO_EMAIL, password)
    password_file.write_text(password)
    password_file.chmod(0o600)
    return DEMO_EMAIL, password


SAMPLE_DATASET_NAME = "Sample: capitals, colours, sums (400 pairs)"
SAMPLE_JOB = {
    "preset_id": "fast",
    "name": "First look",
    # ~300 steps: at the demo's time scale it trains for a minute or two, long enough to watch live.
    "hyperparameters": {"epochs": 12, "batch_size": 8},
    "gpu_config": {"type": "A100-80GB", "count": 1},
}


def ensure_sample_work(runtime: Runtime, email: str = DEMO_EMAIL) -> bool:
    """On a first start, give the demo user a dataset and one queued job, so the jobs list shows a
    run training live within seconds instead of an empty page. Later starts leave the data alone.

    Goes through the same service layer as an upload and the New job form. Returns True if it seeded.
    """
    import io

    from db.datasets import create_dataset, list_datasets
    from db.training_jobs import create_job
    from trainer.sample_data import sample_jsonl

    with runtime.transaction() as session:
        user = session.scalar(select(User).where(User.email == email))
        assert user is not None, "the demo user is created first"
        if list_datasets(session, user.id, limit=1).total:
            return False
        dataset = create_dataset(
            session,
            user.id,
            SAMPLE_DATASET_NAME,
            io.BytesIO(sample_jsonl()),
            data_dir=runtime.settings.data_dir,
            max_bytes=runtime.settings.max_upload_bytes,
        )
        create_job(session, user.id, {**SAMPLE_JOB, "dataset_id": dataset.id}, actor="demo")
    return True


def demo_settings(data_dir: Path, host: str, port: int) -> Settings:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env["DATA_DIR"] = str(data_dir)
    env.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    env.setdefault("CYCLE_INTERVAL_SECONDS", str(DEMO_CYCLE_SECONDS))
    return Settings.from_env(env, require_secrets=False)


def run_demo(*, host: str, port: int, data_dir: str | None, real: bool) -> int:
    directory = Path(data_dir or os.environ.get("DATA_DIR") or ".data/demo").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    settings = demo_settings(directory, host, port)
    runtime = Runtime.create(settings)
    upgrade(runtime.engine)
    email, password = ensure_demo_user(runtime, directory)
    ensure_sample_work(runtime, email)

    from app import create_app
    from jobs.cycle import start_cycle_timer
    from simulator.runner import start_simulator_in_thread

    # The simulated cluster on a local port, spoken to over HTTP exactly like a real one.
    cluster_key = secrets.token_urlsafe(24)
    simulator = start_simulator_in_thread(api_key=cluster_key, time_scale=DEMO_TIME_SCALE)
    settings = settings.with_overrides(gpu_cluster_api_url=simulator.url, gpu_cluster_api_key=cluster_key)
    stop_cycles = threading.Event()
    start_cycle_timer(settings, stop_cycles, sessions=runtime.sessions)

    app = create_app(settings, runtime=runtime)
    print(
        f"\nPIPELINE demo running at http://{host}:{port}\n"
        f"  sign in as  {email}\n  password    {password}\n"
        f"  data in     {directory}\n",
        flush=True,
    )
    try:
        app.run(host=host, port=port, debug=False, threaded=True)
    finally:
        stop_cycles.set()
        simulator.stop()
    return 0
