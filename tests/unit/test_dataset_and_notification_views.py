"""Datasets page and notifications builders: sizes, upload results, tables, list items, the bell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from components.dataset_view import (
    datasets_table,
    delete_button_id,
    format_file_size,
    upload_accepted,
    upload_rejected,
)
from components.notification_view import (
    bell_badge_text,
    bell_children,
    bell_label,
    mark_read_id,
    notification_item,
    notifications_list,
)
from tests.component_tree import walk

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _text(component: Any) -> str:
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return "".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


def _by_id(component: Any, component_id: Any) -> Any:
    return next((c for c in walk(component) if getattr(c, "id", None) == component_id), None)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (None, "—"),
        (-1, "—"),
        (0, "0 B"),
        (812, "812 B"),
        (40_960, "40.0 KB"),
        (1_572_864, "1.5 MB"),
        (5 * 1024**4, "5.0 TB"),
    ],
)
def test_file_sizes_read_naturally(size: int | None, text: str) -> None:
    assert format_file_size(size) == text


def test_accepted_upload_shows_pairs_tokens_and_size() -> None:
    alert = upload_accepted(
        {"name": "chats", "total_training_pairs": 1200, "total_tokens": 345_678, "file_size": 2048}
    )
    assert _text(_by_id(alert, "upload-pairs")) == "1,200"
    assert _text(_by_id(alert, "upload-tokens")) == "~345,678"
    assert "“chats” is ready" in _text(alert)
    assert "2.0 KB" in _text(alert)


def test_rejected_upload_lists_bad_lines_and_says_how_many_more() -> None:
    alert = upload_rejected(
        "12 bad line(s).",
        [{"line": 3, "error": "'prompt' must be non-empty text"}, {"line": 9, "error": "not JSON"}],
        12,
    )
    lines = _by_id(alert, "upload-bad-lines")
    assert [_text(li) for li in lines.children] == [
        "Line 3: 'prompt' must be non-empty text",
        "Line 9: not JSON",
        "… and 10 more bad lines",
    ]
    assert "nothing was stored" in _text(alert)
    assert alert.color == "danger"


def test_rejected_upload_without_structured_lines_still_says_why() -> None:
    alert = upload_rejected("the file has no examples", [])
    assert _by_id(alert, "upload-bad-lines") is None
    assert "the file has no examples" in _text(alert)


def test_datasets_table_rows_and_named_delete_buttons() -> None:
    rows = [
        {
            "id": 5,
            "name": "chats",
            "total_training_pairs": 1500,
            "total_tokens": 90_000,
            "file_size": 3_000_000,
            "status": "ready",
            "created_at": (NOW - timedelta(hours=2)).isoformat(),
        }
    ]
    table = datasets_table(rows, now=NOW)
    text = _text(table)
    for expected in ("chats", "1,500", "90,000", "2.9 MB", "Ready", "2 h ago"):
        assert expected in text
    button = _by_id(table, delete_button_id(5))
    assert button.to_plotly_json()["props"]["aria-label"] == "Delete dataset chats"


def test_datasets_table_empty_state() -> None:
    assert "No datasets yet" in _text(datasets_table([]))


def _notification(**overrides: Any) -> dict[str, Any]:
    values = {
        "id": 1,
        "type": "job_completed",
        "title": "Training completed",
        "message": "Your job finished. Cost $1.20.",
        "priority": "normal",
        "action_url": "/training/jobs/abc",
        "read_at": None,
        "created_at": (NOW - timedelta(minutes=5)).isoformat(),
    }
    values.update(overrides)
    return values


def test_unread_notification_links_to_its_action_and_has_a_named_mark_read_button() -> None:
    item = notification_item(_notification(), NOW)
    link = next(c for c in walk(item) if getattr(c, "href", None))
    assert link.href == "/training/jobs/abc"
    button = _by_id(item, mark_read_id(1))
    assert button.to_plotly_json()["props"]["aria-label"] == "Mark “Training completed” as read"
    assert "notification--unread" in item.to_plotly_json()["props"]["className"]
    assert "5 min ago" in _text(item)


def test_read_notification_has_no_button() -> None:
    item = notification_item(_notification(read_at=NOW.isoformat()), NOW)
    assert _by_id(item, mark_read_id(1)) is None
    assert "notification--unread" not in item.to_plotly_json()["props"]["className"]


@pytest.mark.parametrize(
    "url", ["https://evil.example/x", "//evil.example", "javascript:alert(1)", "/\\evil", None]
)
def test_only_same_site_action_urls_become_links(url: str | None) -> None:
    item = notification_item(_notification(action_url=url), NOW)
    assert not any(getattr(c, "href", None) for c in walk(item))
    assert "Training completed" in _text(item)


def test_list_keeps_the_services_order_and_has_an_empty_state() -> None:
    items = [_notification(id=2, title="B"), _notification(id=1, title="A", read_at=NOW.isoformat())]
    rendered = notifications_list(items, now=NOW)
    assert [c.id for c in rendered.children] == ["notification-2", "notification-1"]
    assert "No notifications yet" in _text(notifications_list([]))


@pytest.mark.parametrize(
    ("count", "badge", "label"),
    [
        (0, "", "Notifications, none unread"),
        (3, "3", "Notifications, 3 unread"),
        (150, "99+", "Notifications, 150 unread"),
    ],
)
def test_bell_badge_and_spoken_name(count: int, badge: str, label: str) -> None:
    assert bell_badge_text(count) == badge
    assert bell_label(count) == label
    children = bell_children(count)
    assert label in _text(children)
    count_badge = next(c for c in walk(children) if getattr(c, "id", None) == "navbar-bell-count")
    assert ("d-none" in count_badge.className) == (count == 0)
