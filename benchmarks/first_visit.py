"""Bytes a browser transfers on a first visit to a monitor page, and on a second (warm-cache) visit.

Serves the real app (create_app, compression on) over HTTP on a throwaway PostgreSQL database with
a running job of N stored points, signs in over HTTP, hands the session cookie to headless
Chromium and opens `/training/jobs/<id>` with an empty cache. Chromium's DevTools performance log
gives each response's bytes on the wire (`encodedDataLength`: headers and compressed body) and its
decoded body (`dataLength`), so the uncompressed baseline comes from the same run. The page counts
as loaded when both charts are drawn; ticks after that are not counted.

    python -m benchmarks.first_visit                  # job with 10,000 points
    python -m benchmarks.first_visit --points 100000

Target (issue 16): first visit <= 1.5 MB on the wire (4.9 MB before compression).
Needs `chromium` and `chromedriver` on PATH (Debian: apt-get install chromium chromium-driver).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from werkzeug.serving import make_server

from api.runtime import Runtime
from app import create_app
from benchmarks.scratch_db import scratch_database
from benchmarks.seed_metrics import copy_metric_points
from db.models import JobStatus
from services.accounts import create_user
from settings import Settings
from tests.factories import make_dataset, make_job
from tests.ports import free_port

EMAIL, PASSWORD = "bench@example.com", "correct horse battery"
TARGET_BYTES = 1.5 * 1024 * 1024
DRAWN_JS = """
return ['mon-loss-graph', 'mon-panels-graph'].every(id => {
  const g = document.querySelector('#' + id + ' .js-plotly-plot');
  return g && g.data && g.data.length > 0 && g.data[0].x && g.data[0].x.length > 0;
});
"""


@dataclass
class Resource:
    url: str = ""
    wire: int = 0  # encodedDataLength: headers and body as transferred
    body: int = 0  # decoded body bytes
    encoding: str = ""
    cached: bool = False


@dataclass
class Visit:
    resources: dict[str, Resource] = field(default_factory=lambda: defaultdict(Resource))

    @property
    def wire(self) -> int:
        return sum(r.wire for r in self.resources.values())

    @property
    def body(self) -> int:
        return sum(r.body for r in self.resources.values())


def _seed(runtime: Runtime, points: int) -> tuple[str, str]:
    """A user and a running job with `points` stored points; returns (email, job id)."""
    with runtime.transaction() as session:
        user_id = create_user(session, EMAIL, PASSWORD).id
        dataset = make_dataset(session, user_id)
        job = make_job(
            session,
            user_id,
            dataset.id,
            status=JobStatus.RUNNING,
            started_at=datetime(2026, 1, 1, tzinfo=UTC),
            total_steps=points * 2,
            current_step=points,
            progress=50.0,
            current_cost=Decimal("1.0000"),
        )
        job_id = job.id
    copy_metric_points(runtime.engine, job_id, points, total=points * 2)
    return EMAIL, str(job_id)


def _browser() -> webdriver.Chrome:
    options = Options()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
    ):
        options.add_argument(flag)
    options.add_argument("--window-size=1400,1000")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options)


def _read_log(driver: webdriver.Chrome) -> Visit:
    """Bytes per request from the DevTools events logged since the last read."""
    visit = Visit()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message["method"], message.get("params", {})
        request_id = params.get("requestId")
        if request_id is None:
            continue
        resource = visit.resources[request_id]
        if method == "Network.responseReceived":
            response = params["response"]
            resource.url = response["url"]
            headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
            resource.encoding = headers.get("content-encoding", "")
            resource.cached = bool(response.get("fromDiskCache") or response.get("fromMemoryCache"))
        elif method == "Network.requestServedFromCache":
            resource.cached = True
        elif method == "Network.dataReceived":
            resource.body += params.get("dataLength", 0)
        elif method == "Network.loadingFinished":
            resource.wire = int(params.get("encodedDataLength", 0))
    visit.resources = {key: r for key, r in visit.resources.items() if r.url}
    return visit


def _visit(driver: webdriver.Chrome, url: str, timeout: float = 60.0) -> Visit:
    driver.get_log("performance")  # drop what came before
    driver.get(url)
    deadline = time.monotonic() + timeout
    while not driver.execute_script(DRAWN_JS):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the monitor's charts were not drawn within {timeout:.0f} s")
        time.sleep(0.1)
    return _read_log(driver)


def _short(url: str, base: str) -> str:
    path = url.removeprefix(base)
    return path if len(path) <= 70 else path[:40] + "…" + path[-29:]


def report(first: Visit, second: Visit, base: str, top: int = 5) -> None:
    mb = 1024 * 1024
    saved = 1 - first.wire / first.body if first.body else 0.0
    print(f"first visit to a monitor page: {len(first.resources)} responses")
    print(f"  uncompressed (decoded bodies, baseline): {first.body / mb:6.2f} MB")
    print(f"  on the wire (compressed, with headers):  {first.wire / mb:6.2f} MB  ({saved:.0%} less)")
    print(f"  top {top} on the wire:")
    for r in sorted(first.resources.values(), key=lambda r: r.wire, reverse=True)[:top]:
        print(
            f"    {r.wire / 1024:8.1f} KB  ({r.body / 1024:7.1f} KB decoded, {r.encoding or 'identity':>8})  {_short(r.url, base)}"
        )
    # a bundle the browser takes from its memory cache logs no network event at all: not listed
    fetched = [r for r in second.resources.values() if not r.cached and r.wire > 0]
    print(f"second visit (warm cache): {second.wire / 1024:.1f} KB on the wire in {len(fetched)} responses")
    for r in sorted(fetched, key=lambda r: r.wire, reverse=True)[:3]:
        print(f"    {r.wire / 1024:8.1f} KB  {_short(r.url, base)}")
    verdict = "OK" if first.wire <= TARGET_BYTES else "OVER TARGET"
    print(f"target: first visit <= 1.5 MB -> {first.wire / mb:.2f} MB: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=10_000, help="stored points of the watched job")
    parser.add_argument("--top", type=int, default=5, help="how many of the largest responses to list")
    args = parser.parse_args()
    with scratch_database() as (url, _engine), tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = Settings.from_env(
            {
                "DATABASE_URL": url,
                "SECRET_KEY": f"bench-{uuid.uuid4().hex}",
                "DATA_DIR": data_dir,
                "PUBLIC_BASE_URL": base,
            }
        )
        runtime = Runtime.create(settings)
        app = create_app(settings, runtime=runtime)
        email, job_id = _seed(runtime, args.points)
        server = make_server("127.0.0.1", port, app.server, threaded=True)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        driver = _browser()
        try:
            with httpx.Client(base_url=base) as http:  # sign in once, then give the browser the cookie
                http.post("/login", data={"email": email, "password": PASSWORD}, headers={"Origin": base})
                cookies = dict(http.cookies)
            driver.get(f"{base}/api/health")
            for name, value in cookies.items():
                driver.add_cookie({"name": name, "value": value, "path": "/"})
            page = f"{base}/training/jobs/{job_id}"
            first = _visit(driver, page)
            second = _visit(driver, page)
        finally:
            driver.quit()
            server.shutdown()
            runtime.engine.dispose()
    report(first, second, base, args.top)


if __name__ == "__main__":
    main()
