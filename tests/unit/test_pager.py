"""Numbered pages: query values read as a page, page arithmetic, the pager's links and the summaries."""

from __future__ import annotations

from typing import Any

import pytest
from dash import dcc, html

from components.jobs_table import jobs_summary
from components.notification_view import notifications_summary
from components.pager import (
    MAX_REQUESTED_PAGE,
    clamp_page,
    page_count,
    page_href,
    page_numbers,
    pager,
    requested_page,
    shown_range,
)
from tests.component_tree import walk


@pytest.mark.parametrize(
    ("raw", "page"),
    [
        ("3", 3),
        ("0003", 3),
        (None, 1),
        ("", 1),
        ("abc", 1),
        ("-1", 1),
        ("0", 1),
        ("2.5", 1),
        ("+2", 1),
        (" 2", 1),
        ("٣", 1),  # a Unicode digit: isdigit() says yes, a page number it is not
        (["2", "3"], 1),  # ?page=2&page=3 reaches the layout as a list
        ("99999", 99999),  # kept: clamped to the last page once the total is known
        ("9" * 5000, MAX_REQUESTED_PAGE),  # int() of this would raise (str digits limit)
    ],
)
def test_query_values_read_as_a_page(raw: Any, page: int) -> None:
    assert requested_page(raw) == page


def test_page_arithmetic() -> None:
    assert [page_count(total, 25) for total in (0, 1, 25, 26, 60)] == [1, 1, 1, 2, 3]
    assert clamp_page(99999, 60, 25) == 3
    assert clamp_page(2, 0, 25) == 1
    assert shown_range(3, 25, 10) == (51, 60)
    assert shown_range(1, 25, 0) == (0, 0)


@pytest.mark.parametrize(
    ("current", "pages", "numbers"),
    [
        (1, 1, [1]),
        (4, 7, [1, 2, 3, 4, 5, 6, 7]),
        (1, 20, [1, 2, 3, 4, 5, None, 20]),
        (4, 20, [1, 2, 3, 4, 5, None, 20]),
        (5, 20, [1, None, 4, 5, 6, None, 20]),
        (10, 20, [1, None, 9, 10, 11, None, 20]),
        (17, 20, [1, None, 16, 17, 18, 19, 20]),
        (20, 20, [1, None, 16, 17, 18, 19, 20]),
    ],
)
def test_page_numbers_keep_first_last_and_neighbours_at_a_constant_count(
    current: int, pages: int, numbers: list[int | None]
) -> None:
    assert page_numbers(current, pages) == numbers


def test_page_href_keeps_the_filter_and_leaves_page_one_implicit() -> None:
    assert page_href("/training/jobs", 1) == "/training/jobs"
    assert page_href("/training/jobs", 3) == "/training/jobs?page=3"
    assert page_href("/training/jobs", 2, {"status": "running"}) == "/training/jobs?status=running&page=2"


def _text(component: Any) -> str:
    children = getattr(component, "children", component)
    if isinstance(children, str):
        return children
    if isinstance(children, list | tuple):
        return "".join(_text(c) for c in children)
    return _text(children) if hasattr(children, "to_plotly_json") else ""


def test_pager_links_every_other_page_and_marks_the_current_one() -> None:
    nav = pager(3, 12, lambda n: f"/x?page={n}", label="Jobs pages")
    assert isinstance(nav, html.Nav)
    assert nav.to_plotly_json()["props"]["aria-label"] == "Jobs pages"
    links = {
        _text(link).strip(): getattr(link, "href", None) for link in walk(nav) if isinstance(link, dcc.Link)
    }
    assert links == {
        "Previous": "/x?page=2",
        "1": "/x?page=1",
        "2": "/x?page=2",
        "4": "/x?page=4",
        "5": "/x?page=5",
        "12": "/x?page=12",
        "Next": "/x?page=4",
    }
    current = [li for li in walk(nav) if isinstance(li, html.Li) and "active" in getattr(li, "className", "")]
    assert [_text(li) for li in current] == ["3"]
    assert current[0].to_plotly_json()["props"]["aria-current"] == "page"


def test_pager_ends_are_not_links_and_one_page_needs_no_pager() -> None:
    first = pager(1, 3, lambda n: f"/x?page={n}", label="pages")
    last = pager(3, 3, lambda n: f"/x?page={n}", label="pages")
    first_links = [_text(link).strip() for link in walk(first) if isinstance(link, dcc.Link)]
    last_links = [_text(link).strip() for link in walk(last) if isinstance(link, dcc.Link)]
    assert first_links == ["2", "3", "Next"]
    assert last_links == ["Previous", "1", "2"]
    assert pager(1, 1, lambda n: "/x", label="pages") is None


def test_summaries_say_which_rows_are_shown_once_there_are_pages() -> None:
    assert jobs_summary(3, 3, 1, 25, live=False) == "3 of 3 jobs"
    assert jobs_summary(1, 1, 1, 25, live=True) == "1 of 1 job · updating live"
    assert jobs_summary(25, 1230, 2, 25, live=False) == "26–50 of 1,230 jobs"
    assert jobs_summary(10, 60, 3, 25, live=True) == "51–60 of 60 jobs · updating live"
    assert notifications_summary(2, 3, 1, 50, 3) == "2 unread of 3"
    assert notifications_summary(0, 120, 3, 50, 20) == "All 120 read · showing 101–120"
    assert notifications_summary(7, 120, 1, 50, 50) == "7 unread of 120 · showing 1–50"
    assert notifications_summary(0, 0, 1, 50, 0) == ""
