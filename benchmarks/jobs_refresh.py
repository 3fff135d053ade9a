"""Bytes and server CPU of one live refresh of the jobs list: 25 running jobs, one of them moving.

Runs the real app in-process on a throwaway PostgreSQL database and POSTs the list's refresh
callback as the browser does. Baseline (same run): the refresh as it was, redrawing the whole page
of rows every time (what the callback still sends when other jobs are shown); then the refresh that
sends only changed rows, with no row moving and with one row's progress moving each time.

    python -m benchmarks.jobs_refresh            # 25 rows, 20 refreshes per case
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time
from typing import Any

import brotli
from sqlalchemy import update

from api.compression import DYNAMIC_LEVELS
from api.runtime import Runtime
from app import create_app
from benchmarks.scratch_db import scratch_database
from db.models import JobStatus, TrainingJob
from pages._jobs_data import PAGE_SIZE
from services.accounts import create_user
from settings import Settings
from tests.component_tree import find_props
from tests.factories import make_job_history
from tests.integration.dash_calls import call

EMAIL, PASSWORD = "bench@example.com", "correct horse battery"


def open_list(client: Any, app: Any) -> dict[str, Any]:
    location = [
        {"id": "_pages_location", "property": "pathname", "value": "/training/jobs"},
        {"id": "_pages_location", "property": "search", "value": ""},
    ]
    page = json.loads(call(client, app, "update", location).get_data())["response"]["_pages_content"]
    shown, summary = find_props(page["children"], "jobs-shown"), find_props(page["children"], "jobs-summary")
    assert shown is not None
    assert summary is not None
    return {"shown": shown["data"], "summary": summary["children"]}


def refresh(client: Any, app: Any, page: dict[str, Any]) -> tuple[bytes, float]:
    """One refresh: the answer's bytes and the process CPU it took (seconds)."""
    state = [
        {"id": "jobs-shown", "property": "data", "value": page["shown"]},
        {"id": "jobs-picked", "property": "data", "value": []},
        {"id": "jobs-summary", "property": "children", "value": page["summary"]},
    ]
    start = time.process_time()
    response = call(
        client, app, "refresh", [{"id": "jobs-interval", "property": "n_intervals", "value": 1}], state
    )
    cpu = time.process_time() - start
    assert response.status_code == 200, response.get_data()[:300]
    return response.get_data(), cpu


def measure(
    client: Any, app: Any, runtime: Runtime, ids: list[str], times: int
) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    cases = (
        ("whole page (before)", True, True),
        ("nothing moved", False, False),
        ("1 row moved", False, True),
    )
    progress = 10.0
    for label, legacy, move in cases:
        sizes: list[bytes] = []
        cpus: list[float] = []
        for _ in range(times):
            page = open_list(client, app)
            if legacy:  # the old refresh knew nothing of the rows shown: it always redrew them all
                page["shown"] = {k: v for k, v in page["shown"].items() if k != "rows"}
            if move:
                progress += 0.5
                with runtime.transaction() as session:
                    session.execute(
                        update(TrainingJob).where(TrainingJob.id == ids[3]).values(progress=progress)
                    )
            body, cpu = refresh(client, app, page)
            sizes.append(body)
            cpus.append(cpu)
        body = sizes[-1]
        rows[label] = {
            "raw": statistics.median(len(b) for b in sizes),
            "br": len(brotli.compress(body, quality=DYNAMIC_LEVELS["br"])),
            "gzip": len(gzip.compress(body, compresslevel=DYNAMIC_LEVELS["gzip"])),
            "cpu_ms": statistics.median(cpus) * 1000,
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--times", type=int, default=20)
    args = parser.parse_args()
    with scratch_database() as (url, _engine), tempfile.TemporaryDirectory() as data_dir:
        settings = Settings.from_env(
            {"DATABASE_URL": url, "SECRET_KEY": "bench-secret-key-0123456789abcdef", "DATA_DIR": data_dir}
        )
        runtime = Runtime.create(settings)
        app = create_app(settings, runtime=runtime)
        with runtime.transaction() as session:
            user_id = create_user(session, EMAIL, PASSWORD).id
            jobs = make_job_history(session, user_id, PAGE_SIZE, status=JobStatus.RUNNING, progress=10.0)
            ids = [str(job.id) for job in reversed(jobs)]
        client = app.server.test_client()
        client.post(
            "/login", data={"email": EMAIL, "password": PASSWORD}, headers={"Origin": "http://localhost"}
        )
        client.environ_base["HTTP_ORIGIN"] = "http://localhost"
        rows = measure(client, app, runtime, ids, args.times)
        runtime.engine.dispose()
    print(f"jobs list: one live refresh of {PAGE_SIZE} running jobs (median of {args.times})")
    print(f"{'refresh':>22} {'raw B':>8} {'br B':>7} {'gzip B':>7} {'CPU ms':>7} {'raw vs before':>14}")
    base = rows["whole page (before)"]["raw"]
    for label, r in rows.items():
        ratio = "baseline" if label.endswith("(before)") else f"1/{base / r['raw']:.0f}"
        print(
            f"{label:>22} {r['raw']:>8,.0f} {r['br']:>7,.0f} {r['gzip']:>7,.0f} {r['cpu_ms']:>7.1f} {ratio:>14}"
        )


if __name__ == "__main__":
    main()
