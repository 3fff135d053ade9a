"""The navbar bell's periodic tick, and the notifications page's poll, for users with many notifications.

Every signed-in page polls the bell every UI_POLL_SECONDS, so its callback must stay cheap as a
user's notifications pile up. Prints, per history size (half unread), through Dash's real callback
endpoint on PostgreSQL:
- bell tick: response bytes and server time (one indexed COUNT),
- notifications page poll when nothing changed (fingerprint check, no body),
- a full list redraw (the first 100, unread first) — what the poll sends only when something changed,
- the naive baseline in the same run: counting unread by loading the user's notifications.

Run: `python -m benchmarks.bell_tick [--sizes 1000,10000,100000] [--repeat 50]`
(needs the PostgreSQL of the test setup; makes and drops its own database).
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, text

from api.runtime import Runtime
from app import create_app
from benchmarks.job_detail_scale import p95, scratch_database, timed
from db.base import utcnow
from db.migrate import upgrade
from db.models import Notification
from db.session import make_engine
from services.notifications import list_notifications
from settings import Settings

PASSWORD = "correct horse battery"
ORIGIN = {"Origin": "http://localhost"}


def _key(app: Any, function: str) -> str:
    return next(
        k for k, v in app.callback_map.items() if getattr(v.get("callback"), "__name__", "") == function
    )


def _outputs(key: str) -> Any:
    def one(part: str) -> dict[str, str]:
        component, prop = part.rsplit(".", 1)
        return {"id": component, "property": prop}

    return [one(p) for p in key.strip(".").split("...")] if key.startswith("..") else one(key)


def _setup(url: str) -> tuple[Runtime, Any, Any, int]:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    settings = Settings.from_env({"DATABASE_URL": url, "SECRET_KEY": "bench-secret-key-0123456789abcdef"})
    runtime = Runtime.create(settings)
    from services.accounts import create_user

    with runtime.transaction() as session:
        user_id = create_user(session, "bench@example.com", PASSWORD).id
    app = create_app(settings, runtime=runtime)
    client = app.server.test_client()
    response = client.post(
        "/login", data={"email": "bench@example.com", "password": PASSWORD}, headers=ORIGIN
    )
    assert response.status_code == 302, response.data[:200]
    client.get("/notifications")  # Dash collects the pages' callbacks on its first request
    return runtime, app, client, user_id


def _seed(runtime: Runtime, user_id: int, count: int) -> None:
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "user_id": user_id,
            "type": "job_completed",
            "title": f"Training completed #{i}",
            "message": f"Your job #{i} finished. Cost $1.20.",
            "priority": "normal",
            "action_url": "/training/jobs/00000000-0000-0000-0000-000000000001",
            "metadata": {},
            "read_at": now if i % 2 else None,
            "created_at": now - timedelta(seconds=count - i),
        }
        for i in range(count)
    ]
    with runtime.transaction() as session:
        session.execute(insert(Notification), rows)
    with runtime.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE lora_notifications")
        )


def _naive_unread(runtime: Runtime, user_id: int) -> int:
    """The baseline: load the user's notifications and count the unread ones in Python."""
    with runtime.transaction() as session:
        rows = session.scalars(select(Notification).where(Notification.user_id == user_id)).all()
        return sum(1 for n in rows if n.read_at is None)


def measure(runtime: Runtime, app: Any, client: Any, user_id: int, repeat: int) -> dict[str, Any]:
    def post(function: str, inputs: list[Any], state: list[Any] | None = None) -> bytes:
        key = _key(app, function)
        first = inputs[0]
        body = {
            "output": key,
            "outputs": _outputs(key),
            "inputs": inputs,
            "state": state or [],
            "changedPropIds": [f"{first['id']}.{first['property']}"],
        }
        response = client.post("/_dash-update-component", json=body, headers=ORIGIN)
        assert response.status_code in (200, 204), response.data[:300]
        return bytes(response.data)

    tick = [{"id": "navbar-bell-interval", "property": "n_intervals", "value": 1}]
    with runtime.transaction() as session:
        page = list_notifications(session, user_id, limit=1)
        fingerprint = [page.latest_id, page.unread_count]  # what the page holds

    bell_body = post("refresh_bell", tick)
    bell = [timed(lambda: post("refresh_bell", tick))[0] for _ in range(repeat)]
    shown_page = {"id": "notifications-shown-page", "property": "data", "value": 1}
    same = [{"id": "notifications-seen", "property": "data", "value": fingerprint}, shown_page]
    unchanged_body = post("follow_new_notifications", tick, same)
    unchanged = [timed(lambda: post("follow_new_notifications", tick, same))[0] for _ in range(repeat)]
    stale = [{"id": "notifications-seen", "property": "data", "value": None}, shown_page]
    full_body = post("follow_new_notifications", tick, stale)
    full = [timed(lambda: post("follow_new_notifications", tick, stale))[0] for _ in range(repeat)]
    naive = [timed(lambda: _naive_unread(runtime, user_id))[0] for _ in range(max(repeat // 5, 3))]
    assert json.loads(bell_body)["response"], "the bell answered nothing"
    return {
        "bell_bytes": len(bell_body),
        "bell_p50": statistics.median(bell),
        "bell_p95": p95(bell),
        "unchanged_bytes": len(unchanged_body),
        "unchanged_p50": statistics.median(unchanged),
        "full_bytes": len(full_body),
        "full_p50": statistics.median(full),
        "naive_p50": statistics.median(naive),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"{'notifications':>13} | {'bell B':>6} {'p50 ms':>7} {'p95 ms':>7} | {'poll same B':>11} {'p50 ms':>7}"
        f" | {'redraw B':>8} {'p50 ms':>7} | {'naive ms':>8} {'naive/bell':>10} {'redraw/bell B':>13}"
    )
    with scratch_database() as url:
        runtime, app, client, user_id = _setup(url)
        seeded = 0
        for size in sizes:
            _seed(runtime, user_id, size - seeded)
            seeded = size
            r = measure(runtime, app, client, user_id, args.repeat)
            print(
                f"{size:>13,} | {r['bell_bytes']:>6} {r['bell_p50']:>7.2f} {r['bell_p95']:>7.2f}"
                f" | {r['unchanged_bytes']:>11} {r['unchanged_p50']:>7.2f}"
                f" | {r['full_bytes']:>8} {r['full_p50']:>7.2f}"
                f" | {r['naive_p50']:>8.1f} {r['naive_p50'] / r['bell_p50']:>9.1f}x"
                f" {r['full_bytes'] / r['bell_bytes']:>12.1f}x"
            )
        runtime.engine.dispose()


if __name__ == "__main__":
    main()
