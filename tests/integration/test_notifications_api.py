"""Notifications over the JSON API: unread first, the `since` cursor, marking read, owner-only."""

from __future__ import annotations

from datetime import timedelta

from api.runtime import Runtime
from db.base import utcnow
from db.models import Notification
from tests.integration.api_fixtures import ApiUser


def _notify(runtime: Runtime, user_id: int, titles: list[str]) -> list[int]:
    start = utcnow() - timedelta(minutes=10)
    ids = []
    with runtime.transaction() as session:
        for offset, title in enumerate(titles):
            row = Notification(
                user_id=user_id,
                type="job_completed",
                title=title,
                message=f"{title} message",
                created_at=start + timedelta(seconds=offset),
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
    return ids


def test_unread_first_then_newest_with_counts(alice: ApiUser, runtime: Runtime) -> None:
    ids = _notify(runtime, alice.id, ["one", "two", "three"])
    assert alice.post(f"/api/notifications/{ids[2]}/read").status_code == 200
    data = alice.get("/api/notifications").get_json()["data"]
    assert [item["title"] for item in data["items"]] == ["two", "one", "three"]
    assert data["unread_count"] == 2
    assert data["total"] == 3
    assert data["latest_id"] == ids[2]
    assert data["items"][2]["read"] is True


def test_pagination_and_unread_only(alice: ApiUser, runtime: Runtime) -> None:
    ids = _notify(runtime, alice.id, [f"n{i}" for i in range(5)])
    alice.post(f"/api/notifications/{ids[0]}/read")
    page = alice.get("/api/notifications?limit=2&offset=2").get_json()["data"]
    assert [item["title"] for item in page["items"]] == ["n2", "n1"]
    unread = alice.get("/api/notifications?unread_only=true").get_json()["data"]
    assert unread["total"] == 4
    assert alice.get("/api/notifications?unread_only=maybe").status_code == 400
    assert alice.get("/api/notifications?limit=1000").status_code == 400


def test_since_cursor_returns_only_newer(alice: ApiUser, runtime: Runtime) -> None:
    _notify(runtime, alice.id, ["old"])
    latest = alice.get("/api/notifications").get_json()["data"]["latest_id"]
    assert alice.get(f"/api/notifications?since={latest}").get_json()["data"]["items"] == []
    _notify(runtime, alice.id, ["new"])
    fresh = alice.get(f"/api/notifications?since={latest}").get_json()["data"]
    assert [item["title"] for item in fresh["items"]] == ["new"]
    assert alice.get("/api/notifications?since=abc").status_code == 400


def test_mark_read_is_idempotent_and_read_all_counts(alice: ApiUser, runtime: Runtime) -> None:
    ids = _notify(runtime, alice.id, ["a", "b", "c"])
    first = alice.post(f"/api/notifications/{ids[0]}/read").get_json()["data"]["read_at"]
    again = alice.post(f"/api/notifications/{ids[0]}/read").get_json()["data"]["read_at"]
    assert first == again
    assert alice.post("/api/notifications/read-all").get_json()["data"] == {"marked_read": 2}
    assert alice.post("/api/notifications/read-all").get_json()["data"] == {"marked_read": 0}
    assert alice.get("/api/notifications").get_json()["data"]["unread_count"] == 0


def test_other_users_notifications_are_404_and_untouched(
    alice: ApiUser, bob: ApiUser, runtime: Runtime
) -> None:
    (alices,) = _notify(runtime, alice.id, ["private"])
    assert bob.get("/api/notifications").get_json()["data"]["items"] == []
    response = bob.post(f"/api/notifications/{alices}/read")
    assert response.status_code == 404
    assert bob.post("/api/notifications/read-all").get_json()["data"] == {"marked_read": 0}
    assert alice.get("/api/notifications").get_json()["data"]["unread_count"] == 1
    assert bob.post("/api/notifications/99999999999999999999999/read").status_code == 404
