"""`lora-pipeline demo`: the whole product in one process on SQLite, for a first look in seconds.

No Redis and no PostgreSQL: the processor cycle runs on an in-process timer and the simulated
cluster on a local port. Everything else is the same code the production processes run.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import socket
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

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
    from services.accounts import create_user

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

    from services.datasets import create_dataset, list_datasets
    from services.job_limits import UserLimits
    from services.training_jobs import create_job
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
        limits = UserLimits.from_settings(runtime.settings)
        create_job(session, user.id, {**SAMPLE_JOB, "dataset_id": dataset.id}, actor="demo", limits=limits)
    return True


def demo_settings(data_dir: Path, host: str, port: int) -> Settings:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env["DATA_DIR"] = str(data_dir)
    env.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    env.setdefault("CYCLE_INTERVAL_SECONDS", str(DEMO_CYCLE_SECONDS))
    env.setdefault("REGISTRATION_OPEN", "true")  # a local demo: let visitors make their own account
    return Settings.from_env(env, require_secrets=False)


TRAINER_MODULES = ("torch", "transformers", "peft")


def missing_trainer_modules() -> list[str]:
    """The trainer extra's modules this interpreter cannot import (`--real` needs all of them)."""
    return [name for name in TRAINER_MODULES if importlib.util.find_spec(name) is None]


def start_cycles_once_serving(
    settings: Settings,
    stop: threading.Event,
    *,
    sessions: sessionmaker[Session],
    host: str,
    port: int,
    timeout: float = 120.0,
) -> threading.Thread:
    """Start the cycle timer once this web server accepts connections.

    The cluster downloads a job's dataset from our signed storage URL as soon as the job is
    submitted, and building the Dash app takes seconds: a first cycle before `app.run` listens
    failed the seeded job with "could not download the dataset" on a fresh start.
    """
    from jobs.cycle import start_cycle_timer

    address = ("127.0.0.1" if host in ("0.0.0.0", "") else host, port)  # noqa: S104  what the server binds

    def wait_then_cycle() -> None:
        deadline = time.monotonic() + timeout
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                with socket.create_connection(address, timeout=0.5):
                    break
            except OSError:
                stop.wait(0.1)
        if not stop.is_set():
            start_cycle_timer(settings, stop, sessions=sessions)

    thread = threading.Thread(target=wait_then_cycle, name="cycle-start", daemon=True)
    thread.start()
    return thread


def run_demo(*, host: str, port: int, data_dir: str | None, real: bool) -> int:
    if real and (missing := missing_trainer_modules()):
        print(
            f"lora-pipeline demo --real needs the trainer extra ({', '.join(missing)} not installed).\n"
            "Install it with:  pip install -e '.[trainer]'   or run the demo without --real "
            "(simulated cluster).",
            file=sys.stderr,
        )
        return 2
    directory = Path(data_dir or os.environ.get("DATA_DIR") or ".data/demo").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    settings = demo_settings(directory, host, port)
    runtime = Runtime.create(settings)
    upgrade(runtime.engine)
    email, password = ensure_demo_user(runtime, directory)
    ensure_sample_work(runtime, email)

    from app import create_app
    from simulator.runner import start_simulator_in_thread

    simulator = None
    if real:
        # The real trainer (tiny random Llama, CPU) as a subprocess per job: jobs/local_backend.py.
        settings = settings.with_overrides(gpu_cluster_backend="local")
    else:
        # The simulated cluster on a local port, spoken to over HTTP exactly like a real one.
        cluster_key = secrets.token_urlsafe(24)
        simulator = start_simulator_in_thread(api_key=cluster_key, time_scale=DEMO_TIME_SCALE)
        settings = settings.with_overrides(gpu_cluster_api_url=simulator.url, gpu_cluster_api_key=cluster_key)
    stop_cycles = threading.Event()
    start_cycles_once_serving(settings, stop_cycles, sessions=runtime.sessions, host=host, port=port)

    app = create_app(settings, runtime=runtime)
    print(
        f"\nPIPELINE demo running at http://{host}:{port}\n"
        f"  sign in as  {email}\n  password    {password}\n"
        f"  data in     {directory}\n"
        f"  cluster     {'real tiny trainer subprocesses (--real)' if real else 'simulated'}\n",
        flush=True,
    )
    try:
        app.run(host=host, port=port, debug=False, threaded=True)
    finally:
        stop_cycles.set()
        if simulator is not None:
            simulator.stop()
    return 0
