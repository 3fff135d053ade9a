"""Who is asking, for the forms pages' layouts and callbacks.

The auth guard (api/auth.py) already refused anyone not signed in before a page or a Dash
callback runs; these helpers only read the identity it established. A layout can also be
evaluated without a user (Dash builds its validation layout once, on the first request), so
the id may be None there and the layout then renders its empty skeleton.
"""

from __future__ import annotations

from flask import has_request_context
from flask_login import current_user


def signed_in_user_id() -> int | None:
    """The signed-in user's id, or None outside a signed-in request."""
    if not has_request_context() or not current_user.is_authenticated:
        return None
    return int(current_user.id)


def signed_in_email() -> str | None:
    """The signed-in user's email, or None outside a signed-in request."""
    if not has_request_context() or not current_user.is_authenticated:
        return None
    return str(current_user.email)


def require_user_id() -> int:
    """The signed-in user's id inside a callback (the guard guarantees one).

    Raises:
        PermissionError: no signed-in user; cannot happen behind the guard, refuses if it does.
    """
    user_id = signed_in_user_id()
    if user_id is None:
        raise PermissionError("not signed in")
    return user_id


def actor_name() -> str:
    """How the activity log names an action this user took from the browser."""
    return str(current_user.email) if has_request_context() and current_user.is_authenticated else "user"
