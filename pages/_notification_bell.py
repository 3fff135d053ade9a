"""The navbar bell's periodic refresh: one indexed COUNT per poll, nothing else.

The bell itself is in the app shell (components.notification_view.navbar_bell, placed by app.py
in `#navbar-extra`); this callback is registered when pages/notifications.py is imported, which
Dash's page discovery does for every page.
"""

from __future__ import annotations

from typing import Any

from dash import Input, Output, callback

from api.runtime import get_runtime
from components.notification_view import BELL_INTERVAL, BELL_LINK, bell_children
from db.notifications import unread_count
from pages._signed_in import require_user_id

__all__ = ["BELL_LINK", "refresh_bell"]


@callback(Output(BELL_LINK, "children"), Input(BELL_INTERVAL, "n_intervals"))
def refresh_bell(_n: int | None) -> list[Any]:
    with get_runtime().transaction() as session:
        return bell_children(unread_count(session, require_user_id()))
