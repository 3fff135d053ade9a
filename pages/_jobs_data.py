"""One page of the signed-in user's jobs for `/training/jobs`, through `services.training_jobs.list_jobs`.

The same listing (newest first, status filter, limit/offset) as `GET /api/jobs`, read a page at a
time; rows are the API's job JSON plus the dataset's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from api.runtime import get_runtime
from components.jobs_table import ACTIVE_FILTER_STATUSES, statuses_for_filter
from components.pager import page_count
from pages._paging import read_page
from services.serialize import job_json
from services.training_jobs import JobPage, list_jobs

# A live list re-sends its whole page on every refresh while a job runs, ~2.7 KB of component
# JSON per row: 25 rows keep a tick near 70 KB (the old 100-row cap sent ~270 KB every 5 s).
PAGE_SIZE = 25


@dataclass(frozen=True)
class JobsView:
    rows: list[dict[str, Any]]
    total: int  # jobs matching the filter
    page: int  # the page shown (a request past the end shows the last one)
    pages: int
    active: int  # the user's queued/initializing/running jobs, whatever the filter shows


def _rows(page: JobPage) -> list[dict[str, Any]]:
    return [
        {**job_json(job), "dataset_name": job.dataset.name if job.dataset else None} for job in page.items
    ]


def user_jobs(user_id: int, filter_value: str | None, page: int, *, size: int = PAGE_SIZE) -> JobsView:
    """Page `page` of the user's jobs under a filter choice (`components.jobs_table` values).

    Raises:
        ValidationError: a filter value that names no status (only a crafted callback sends one).
    """
    statuses = statuses_for_filter(filter_value)
    with get_runtime().transaction() as session:
        # Counted before the rows: a job that ends in between then costs one extra refresh, where
        # the other order could show it running while the count says nothing is, and stop polling.
        active = _active_count(session, user_id)

        def fetch(limit: int, offset: int) -> JobPage:
            return list_jobs(session, user_id, statuses=statuses, limit=limit, offset=offset)

        listing, shown = read_page(fetch, page, size)
        return JobsView(
            rows=_rows(listing),
            total=listing.total,
            page=shown,
            pages=page_count(listing.total, size),
            active=active,
        )


def _active_count(session: Session, user_id: int) -> int:
    return list_jobs(session, user_id, statuses=list(ACTIVE_FILTER_STATUSES), limit=1).total
