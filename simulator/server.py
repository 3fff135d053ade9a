"""The simulated GPU cluster's HTTP server: the whole contract of docs/gpu-cluster-api.md.

asyncio (aiohttp), so thousands of polls with added latency wait without a thread each. Run it with
``lora-pipeline cluster-sim`` or ``start_simulator_in_thread``; test-only controls live under
``/_sim/`` (behind the same bearer key) and the product never calls them.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from simulator.dataset import DatasetProblem, fetch_dataset_rows
from simulator.faults import ClusterFaults, FaultsInvalid, garble
from simulator.state import SimCluster, SimJob
from simulator.submission import SubmitInvalid, parse_submission

CLUSTER_KEY = web.AppKey("cluster", SimCluster)
FAULTS_KEY = web.AppKey("faults", ClusterFaults)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_CONCURRENT_DOWNLOADS = 16
logger = logging.getLogger(__name__)


@dataclass
class ServerState:
    api_key: str
    requests: Counter[str] = field(default_factory=Counter)
    submits: Counter[str] = field(default_factory=Counter)  # submit calls per job_id (idempotency checks)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    session: aiohttp.ClientSession | None = None
    downloads: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT_DOWNLOADS))


STATE_KEY = web.AppKey("state", ServerState)


def _error(status: int, error: str, details: str = "", headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": error, "details": details}, status=status, headers=headers)


def _authorized(request: web.Request, api_key: str) -> bool:
    supplied = request.headers.get("Authorization", "")
    return hmac.compare_digest(supplied.encode(), f"Bearer {api_key}".encode())


@web.middleware
async def contract_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth on everything but /health; then, for contract routes, injected latency and errors."""
    state = request.app[STATE_KEY]
    if request.path == "/health":
        return await handler(request)
    if not _authorized(request, state.api_key):
        return _error(401, "unauthorized", "send Authorization: Bearer <cluster API key>")
    if not request.path.startswith("/training/"):
        return await handler(request)
    route = request.path.split("/")[2] if request.path.count("/") >= 2 else ""
    state.requests[route] += 1
    faults = request.app[FAULTS_KEY]
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000.0)
    injected = faults.injected_error()
    if injected is not None:
        headers = {"Retry-After": f"{faults.retry_after:g}"} if faults.retry_after is not None else None
        return _error(injected, "injected fault", f"simulated HTTP {injected}", headers)
    return await handler(request)


def _render(body: dict[str, Any], status: int, malformed: str | None) -> web.Response:
    if malformed is None:
        return web.Response(text=json.dumps(body), status=status, content_type="application/json")
    text, content_type = garble(body, malformed)
    return web.Response(text=text, status=status, content_type=content_type)


async def submit(request: web.Request) -> web.Response:
    cluster, state = request.app[CLUSTER_KEY], request.app[STATE_KEY]
    try:
        payload = await request.json()
    except (ValueError, UnicodeDecodeError):
        return _error(400, "invalid request", "the request body must be JSON")
    try:
        spec = parse_submission(payload)
    except SubmitInvalid as exc:
        return _error(exc.status, "invalid submission", exc.message)
    job, created = cluster.submit(spec)
    state.submits[spec.job_id] += 1
    if created:
        task = asyncio.create_task(_prepare_dataset(state, cluster, job))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
    body = {
        "external_job_id": job.external_job_id,
        "status": "queued" if created else _status_of(cluster, job),
    }
    return _render(body, 201 if created else 200, request.app[FAULTS_KEY].malformed())


def _status_of(cluster: SimCluster, job: SimJob) -> str:
    return str(job.snapshot(cluster.clock(), None)["status"])


async def _prepare_dataset(state: ServerState, cluster: SimCluster, job: SimJob) -> None:
    assert state.session is not None
    async with state.downloads:
        try:
            rows = await fetch_dataset_rows(state.session, job.spec.dataset_url)
        except DatasetProblem as exc:
            job.dataset_error = str(exc)
            job.ready_at = cluster.clock()
            return
        except Exception as exc:  # a job must never hang in "downloading" because of a surprise
            # The exception's text may hold the signed URL (a credential): log its type only.
            logger.error("dataset download for %s failed: %s", job.external_job_id, type(exc).__name__)
            job.dataset_error = f"could not download the dataset: {type(exc).__name__}"
            job.ready_at = cluster.clock()
            return
    job.dataset_ready(rows, cluster.clock())


def _since_step(request: web.Request) -> int | None:
    raw = request.query.get("since_step")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is True; int() refuses it
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "invalid since_step", "details": "a whole number >= 0"}),
            content_type="application/json",
        )
    return int(raw)


def _unknown_job(external_job_id: str) -> web.Response:
    return _error(404, "unknown job", f"no job {external_job_id!r} on this cluster")


async def status(request: web.Request) -> web.Response:
    cluster, faults = request.app[CLUSTER_KEY], request.app[FAULTS_KEY]
    external_job_id = request.match_info["external_job_id"]
    since_step = _since_step(request)
    job = cluster.get(external_job_id)
    if job is None:
        return _unknown_job(external_job_id)
    job_faults = job.faults
    if job_faults.latency_ms:
        await asyncio.sleep(job_faults.latency_ms / 1000.0)
    if job_faults.error_rate and faults.rng.random() < job_faults.error_rate:
        return _error(500, "injected fault", "simulated per-job HTTP 500")
    if job.status_text is not None:
        return web.Response(text=job.status_text, status=200, content_type="application/json")
    body = job.snapshot(cluster.clock(), since_step)
    return _render(body, 200, job_faults.malformed or faults.malformed())


async def cancel(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER_KEY]
    external_job_id = request.match_info["external_job_id"]
    job = cluster.get(external_job_id)
    if job is None:
        return _unknown_job(external_job_id)
    cluster.cancel(job)
    body = job.snapshot(cluster.clock(), None)
    return web.json_response({"external_job_id": external_job_id, "status": body["status"]})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "jobs": len(request.app[CLUSTER_KEY])})


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAULTS_KEY].as_json())


async def set_faults(request: web.Request) -> web.Response:
    faults = request.app[FAULTS_KEY]
    try:
        faults.update(await request.json())
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(
            400, "invalid fault settings", str(exc) if isinstance(exc, FaultsInvalid) else "not JSON"
        )
    return web.json_response(faults.as_json())


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = {
        "jobs": len(request.app[CLUSTER_KEY]),
        "requests": dict(state.requests),
        "submits": dict(state.submits),
    }
    return web.json_response(body)


async def _open_session(app: web.Application) -> None:
    app[STATE_KEY].session = aiohttp.ClientSession()


async def _close_session(app: web.Application) -> None:
    state = app[STATE_KEY]
    for task in list(state.tasks):
        task.cancel()
    if state.session is not None:
        await state.session.close()


def build_app(cluster: SimCluster, *, api_key: str, faults: ClusterFaults | None = None) -> web.Application:
    """The aiohttp application; ``api_key`` is required (a cluster without auth would hide bugs)."""
    if not api_key:
        raise ValueError("the simulated cluster needs an API key (--api-key or GPU_CLUSTER_API_KEY)")
    app = web.Application(middlewares=[contract_middleware])
    app[CLUSTER_KEY] = cluster
    app[FAULTS_KEY] = faults or ClusterFaults()
    app[STATE_KEY] = ServerState(api_key=api_key)
    app.on_startup.append(_open_session)
    app.on_cleanup.append(_close_session)
    app.router.add_post("/training/submit", submit)
    app.router.add_get("/training/status/{external_job_id}", status)
    app.router.add_post("/training/cancel/{external_job_id}", cancel)
    app.router.add_get("/health", health)
    app.router.add_get("/_sim/faults", get_faults)
    app.router.add_post("/_sim/faults", set_faults)
    app.router.add_get("/_sim/stats", stats)
    return app
