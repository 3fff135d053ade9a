"""Read one numbered page through a service-layer listing, landing on the last page when asked past it.

The listings (`list_jobs`, `list_notifications`) take `limit`/`offset`, as the JSON API does, and
answer an offset past the end with no rows and the true total. The pages want the last real page
then (``?page=99999``, or a filtered list that shrank while open), so the read is repeated once at
the clamped page: a second query only in that case.
"""

from __future__ import annotations

from collections.abc import Callable, Sized
from typing import Protocol, TypeVar

from components.pager import clamp_page, page_offset


class Listing(Protocol):
    @property
    def items(self) -> Sized: ...

    @property
    def total(self) -> int: ...


ListingT = TypeVar("ListingT", bound=Listing)


def read_page(fetch: Callable[[int, int], ListingT], page: int, size: int) -> tuple[ListingT, int]:
    """`fetch(limit, offset)` for `page`, or for the last page if `page` is past it.

    Returns the listing and the page number it is (what the pager should mark current).
    """
    listing = fetch(size, page_offset(page, size))
    clamped = clamp_page(page, listing.total, size)
    if clamped != page:
        listing = fetch(size, page_offset(clamped, size))
    return listing, clamped
