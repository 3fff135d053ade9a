"""The status sweep behind ``ClusterClient.poll_many``: many GET /training/status calls at once.

Why aiohttp here when the rest of the client is httpx: the sweep is the processor's hot path (every
running job, every cycle) and on this 2-core machine its cost is CPU per request, not the network.
Measured in benchmarks/poll_concurrency.py (1,000 polls at 50 ms): httpx.AsyncClient spends ~1 s of
CPU, aiohttp ~0.2 s, for the same answers, because aiohttp's HTTP parser and connection pool are in
C. httpx's own pool also does O(requests x connections) work per event, which is why the httpx
variant below spreads its requests over several small pools. Both variants share the answer
classification (jobs/cluster_answers.py), the retry rules and the parsing, so they return
identical outcomes; the httpx one stays as the measured alternative.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from yarl import URL

from contract.parsing import parse_status_report
from contract.results import ClusterError, ClusterTransient, PollOutcome
from jobs.cluster_answers import RetryableFailure

if TYPE_CHECKING:
    from jobs.cluster import ClusterClient

Fetch = Callable[[str, str], Awaitable[Any]]  # (path, query) -> parsed JSON body, raising on failure


async def _with_retries(client: ClusterClient, fetch: Fetch, path: str, query: str) -> Any:
    for attempt in range(client.max_retries + 1):
        try:
            return await fetch(path, query)
        except RetryableFailure as failure:
            if attempt == client.max_retries or not failure.may_wait:
                raise failure.error from None
            await asyncio.sleep(failure.delay(attempt, client.backoff_seconds))
    raise AssertionError("unreachable")  # pragma: no cover


async def _sweep(
    client: ClusterClient, queries: Mapping[str, int | None], fetch: Fetch
) -> dict[str, PollOutcome]:
    gate = asyncio.Semaphore(client.poll_concurrency)
    budget = client.poll_deadline_seconds
    deadline = None if budget is None else asyncio.get_running_loop().time() + budget

    async def one(external_job_id: str, since_step: int | None) -> PollOutcome:
        path = client.status_path(external_job_id)
        query = "" if since_step is None else f"since_step={since_step}"
        try:
            async with asyncio.timeout_at(deadline), gate:
                body = await _with_retries(client, fetch, path, query)
                return parse_status_report(body, external_job_id, since_step)
        except ClusterError as exc:
            return exc
        except TimeoutError:
            return client.deadline_error(external_job_id)

    jobs = list(queries.items())
    outcomes = await asyncio.gather(*(one(job, since) for job, since in jobs))
    return {job: outcome for (job, _), outcome in zip(jobs, outcomes, strict=True)}


def _transport_failure(
    client: ClusterClient, path: str, exc: BaseException, timed_out: bool
) -> RetryableFailure:
    kind = "timed out" if timed_out else "could not be reached"
    detail = client.scrub(str(exc)) or type(exc).__name__
    return RetryableFailure(ClusterTransient(f"cluster {kind} on GET {path}: {type(exc).__name__}: {detail}"))


async def poll_with_aiohttp(
    client: ClusterClient, queries: Mapping[str, int | None]
) -> dict[str, PollOutcome]:
    """One aiohttp session (a pool of ``poll_concurrency`` connections) for this sweep."""
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=client.connect_timeout, sock_read=client.read_timeout
    )
    connector = aiohttp.TCPConnector(limit=client.poll_concurrency, limit_per_host=client.poll_concurrency)
    async with aiohttp.ClientSession(
        headers=client.headers, timeout=timeout, connector=connector, trust_env=False
    ) as session:

        async def fetch(path: str, query: str) -> Any:
            # encoded=True: the id is already quoted as one path segment; don't let yarl re-quote it.
            url = URL(f"{client.base_url}{path}{'?' + query if query else ''}", encoded=True)
            try:
                async with session.get(url, allow_redirects=False) as response:
                    content = await response.read()
                    retry_after = response.headers.get("Retry-After")
                    status = response.status
            except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
                raise _transport_failure(client, path, exc, timed_out=True) from None
            except aiohttp.ClientError as exc:
                raise _transport_failure(client, path, exc, timed_out=False) from None
            return client.interpret(f"GET {path}", status, retry_after, content)

        return await _sweep(client, queries, fetch)


async def poll_with_httpx(client: ClusterClient, queries: Mapping[str, int | None]) -> dict[str, PollOutcome]:
    """httpx.AsyncClient variant, over several small pools (see the module docstring)."""
    shard_size = min(client.poll_pool_size, client.poll_concurrency)
    shards = max(1, math.ceil(client.poll_concurrency / shard_size))
    limits = httpx.Limits(max_connections=shard_size, max_keepalive_connections=shard_size)
    timeout = httpx.Timeout(client.read_timeout, connect=client.connect_timeout)
    pools = [
        httpx.AsyncClient(base_url=client.base_url, headers=client.headers, timeout=timeout, limits=limits)
        for _ in range(shards)
    ]
    turn = 0

    async def fetch(path: str, query: str) -> Any:
        nonlocal turn
        turn += 1
        try:
            response = await pools[turn % shards].get(f"{path}{'?' + query if query else ''}")
        except httpx.TransportError as exc:
            timed_out = isinstance(exc, httpx.TimeoutException)
            raise _transport_failure(client, path, exc, timed_out=timed_out) from None
        retry_after = response.headers.get("Retry-After")
        return client.interpret(f"GET {path}", response.status_code, retry_after, response.content)

    try:
        return await _sweep(client, queries, fetch)
    finally:
        for pool in pools:
            await pool.aclose()
