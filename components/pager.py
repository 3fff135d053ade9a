"""Numbered pages for the long lists (jobs, notifications): page arithmetic and the pager links.

Numbered pages in the URL (``?page=3``) say where the user is, reach the oldest rows in one click
and survive reload, back and sharing (docs/architecture.md §10). Pure: numbers in, components out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from dash import dcc, html

from components.aria import aria

PAGE_PARAM = "page"
# Beyond any real list; a larger request means "the end" and is clamped to the last page once the
# total is known. Keeps int() off arbitrarily long digit strings.
MAX_REQUESTED_PAGE = 1_000_000
_MAX_DIGITS = len(str(MAX_REQUESTED_PAGE))


def requested_page(raw: object) -> int:
    """The page a query value asks for: a positive whole number, else 1 (``abc``, ``-1``, ``0``, ``2.5``).

    Dash hands a repeated parameter (``?page=2&page=3``) over as a list; that is page 1 too.
    A number past the end is kept here and clamped by `clamp_page` once the total is known.
    """
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit():
        return 1
    if len(raw.lstrip("0")) > _MAX_DIGITS:
        return MAX_REQUESTED_PAGE
    return min(max(int(raw), 1), MAX_REQUESTED_PAGE)


def page_count(total: int, size: int) -> int:
    """How many pages `total` rows fill; an empty list still has its one (empty) page."""
    return max(1, -(-total // size))


def clamp_page(page: int, total: int, size: int) -> int:
    return min(max(page, 1), page_count(total, size))


def page_offset(page: int, size: int) -> int:
    return (max(page, 1) - 1) * size


def shown_range(page: int, size: int, shown: int) -> tuple[int, int]:
    """1-based positions of the first and last row on the page (``(0, 0)`` when it is empty)."""
    if shown <= 0:
        return 0, 0
    first = page_offset(page, size) + 1
    return first, first + shown - 1


def page_numbers(current: int, pages: int, *, around: int = 1) -> list[int | None]:
    """The page numbers to offer: first, last and `around` either side of the current one.

    ``None`` marks a gap (an ellipsis). The count stays the same wherever the current page is,
    so the pager does not change width (and move the link under the pointer) from page to page.
    """
    slots = 2 * around + 5
    if pages <= slots:
        return list(range(1, pages + 1))
    if current <= around + 3:
        middle = range(2, slots - 1)
    elif current >= pages - around - 2:
        middle = range(pages - slots + 3, pages)
    else:
        middle = range(current - around, current + around + 1)
    numbers: list[int | None] = [1]
    if middle[0] > 2:
        numbers.append(None)
    numbers.extend(middle)
    if middle[-1] < pages - 1:
        numbers.append(None)
    numbers.append(pages)
    return numbers


def page_href(path: str, page: int, params: Mapping[str, str] | None = None) -> str:
    """`path` with the page's query string; page 1 leaves ``page`` out (one URL per page)."""
    query = dict(params or {})
    if page > 1:
        query[PAGE_PARAM] = str(page)
    return f"{path}?{urlencode(query)}" if query else path


_CURRENT: dict[str, Any] = {"aria-current": "page"}
_DISABLED: dict[str, Any] = {"aria-disabled": "true"}


def _item(content: str | list[Any], href: str | None, *, current: bool = False) -> html.Li:
    """A page link; the current page and an unavailable Previous/Next are text, not links."""
    if current:
        return html.Li(html.Span(content, className="page-link"), className="page-item active", **_CURRENT)
    if href is None:
        return html.Li(html.Span(content, className="page-link", **_DISABLED), className="page-item disabled")
    return html.Li(dcc.Link(content, href=href, className="page-link"), className="page-item")


def _chevron(side: str) -> html.I:
    return html.I(className=f"bi bi-chevron-{side} small", **aria(hidden=True))


def pager(current: int, pages: int, href: Callable[[int], str], *, label: str) -> html.Nav | None:
    """Previous, the page numbers, Next; None when everything fits on one page.

    `href(n)` gives page n's address (see `page_href`); `label` names the navigation landmark
    for screen readers ("Jobs pages").
    """
    if pages <= 1:
        return None
    previous = href(current - 1) if current > 1 else None
    following = href(current + 1) if current < pages else None
    items = [
        _item([_chevron("left"), " Previous"], previous),
        *(
            _item("…", None)
            if number is None
            else _item(str(number), href(number), current=number == current)
            for number in page_numbers(current, pages)
        ),
        _item(["Next ", _chevron("right")], following),
    ]
    return html.Nav(html.Ul(items, className="pagination pagination-sm flex-wrap mb-0"), **aria(label))
