"""The signed-in user's API tokens for `/account/tokens`, through services.accounts (the CLI's service)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from api.runtime import get_runtime
from db.base import utcnow
from services.accounts import issue_token_for, list_tokens, revoke_token, token_state

# The lifetimes the page offers, in days (the CLI takes any number).
LIFETIME_DAYS = (7, 30, 90, 365)
DEFAULT_LIFETIME_DAYS = 90
MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    state: str  # active, expired or revoked
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


def user_tokens(user_id: int) -> tuple[list[TokenRow], datetime]:
    """The user's tokens, newest first, and the time their states were judged at."""
    now = utcnow()
    with get_runtime().transaction() as session:
        rows = [
            TokenRow(t.id, t.name, token_state(t, now), t.created_at, t.expires_at, t.last_used_at)
            for t in list_tokens(session, user_id)
        ]
    return rows, now


def create_token(user_id: int, name: str, days: int) -> str:
    """A new token for the user (shown once by the page).

    Raises:
        AccountError: a lifetime the page does not offer.
    """
    from services.accounts import AccountError

    if days not in LIFETIME_DAYS:
        raise AccountError(f"Choose a lifetime of {', '.join(map(str, LIFETIME_DAYS))} days.")
    with get_runtime().transaction() as session:
        return issue_token_for(
            session, user_id, name=name[:MAX_NAME_LENGTH] or "web", lifetime=timedelta(days=days)
        )


def revoke(user_id: int, token_id: int) -> bool:
    """Revoke one of the user's tokens; False when it is not theirs or already revoked."""
    with get_runtime().transaction() as session:
        return revoke_token(session, user_id, token_id)
