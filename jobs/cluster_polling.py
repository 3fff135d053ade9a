"""The status sweep behind ``ClusterClient.poll_many``: many GET /training/status calls at once.

aiohttp, because the sweep is the processor's hot path and its cost on 2 cores is CPU per request
(measured: docs/architecture.md §7). It knows nothing of ``ClusterClient``; answers are classified
by jobs/cluster_answers.py, like the client's own calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import aiohttp
from yarl import URL

from contract.parsing import parse_status_report
from contract.results import ClusterError, ClusterTransient, PollOutcome
from jobs.cluster_answers import RetryableFailure, interpret_answer, transport_error


class StatusQuery(NamedTuple):
    """One job to ask about: its cluster id, the route to ask (id already quoted), its cursor."""

    external_job_id: str
    path: str
    since_step: int | None


@dataclass(frozen=True)
class StatusSweep:
    """One sweep's settings: where to ask and with which key, how many at once, for how long."""

    base_url: str
    headers: Mapping[str, str] = field(repr=False)  # the bearer key is in here
    secret: str = field(repr=False)  # scrubbed from any text the cluster sends back
    concurrency: int
    connect_timeout: float
    read_timeout: float
    max_retries: int
    backoff_seconds: float
    deadline_seconds: float | None  # jobs unanswered by then get ClusterTransient

    def run(self, queries: Sequence[StatusQuery]) -> dict[str, PollOutcome]:
        """The sweep from synchronous code (inside a running event loop, on a thread of its own)."""
        if not _loop_running():
            return asyncio.run(self.poll(queries))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cluster-poll") as thread:
            return thread.submit(asyncio.run, self.poll(queries)).result()

    async def poll(self, queries: Sequence[StatusQuery]) -> dict[str, PollOutcome]:
        """One aiohttp session (a pool of ``concurrency`` connections) for the whole sweep.

        ``concurrency`` workers take the next job as each finishes its last, so a slow job holds
        one worker while the others go on; one deadline for the sweep (not a timer per job) ends
        it, and every job still unanswered then gets ClusterTransient.
        """
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
        )
        # ssl=False for http://: no TLS context to build (a sweep's largest fixed cost, ~0.1 s).
        connector = aiohttp.TCPConnector(
            limit=self.concurrency,
            limit_per_host=self.concurrency,
            ssl=self.base_url.startswith("https://"),
        )
        outcomes: dict[str, PollOutcome] = {}
        async with aiohttp.ClientSession(
            headers=dict(self.headers), timeout=timeout, connector=connector, trust_env=False
        ) as session:
            pending = iter(queries)

            async def worker() -> None:
                for query in pending:  # shared: each query is taken by exactly one worker
                    outcomes[query.external_job_id] = await self._outcome(session, query)

            workers = [asyncio.create_task(worker()) for _ in range(min(self.concurrency, len(queries)))]
            done, late = await asyncio.wait(workers, timeout=self.deadline_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            for task in done:
                task.result()  # a bug, not an answer: raise it, as a failed gather would
        for query in queries:
            if query.external_job_id not in outcomes:
                outcomes[query.external_job_id] = ClusterTransient(
                    f"cluster did not answer GET {query.path} within the poll deadline "
                    f"({self.deadline_seconds:g} s)"
                )
        return outcomes

    async def _outcome(self, session: aiohttp.ClientSession, query: StatusQuery) -> PollOutcome:
        try:
            body = await self._with_retries(session, query)
            return parse_status_report(body, query.external_job_id, query.since_step)
        except ClusterError as exc:
            return exc

    async def _with_retries(self, session: aiohttp.ClientSession, query: StatusQuery) -> Any:
        for attempt in range(self.max_retries + 1):
            try:
                return await self._fetch(session, query)
            except RetryableFailure as failure:
                if attempt == self.max_retries or not failure.may_wait:
                    raise failure.error from None
                await asyncio.sleep(failure.delay(attempt, self.backoff_seconds))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch(self, session: aiohttp.ClientSession, query: StatusQuery) -> Any:
        where = f"GET {query.path}"
        since = "" if query.since_step is None else f"?since_step={query.since_step}"
        # encoded=True: the id is already quoted as one path segment; don't let yarl re-quote it.
        url = URL(f"{self.base_url}{query.path}{since}", encoded=True)
        try:
            async with session.get(url, allow_redirects=False) as response:
                content = await response.read()
                retry_after = response.headers.get("Retry-After")
                status = response.status
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise RetryableFailure(transport_error(where, exc, timed_out=True, secret=self.secret)) from None
        except aiohttp.ClientError as exc:
            raise RetryableFailure(transport_error(where, exc, timed_out=False, secret=self.secret)) from None
        return interpret_answer(where, status, retry_after, content, secret=self.secret)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
