"""Invite links: how someone gets an account while self-registration is closed (the default).

An admin makes one with `lora-pipeline users invite`; the link opens the registration form for that
invite only, expires, and works once. Only a hash of the token is stored, like API tokens.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Invite
from db.session import rows_affected
from services.accounts import AccountError

DEFAULT_INVITE_LIFETIME = timedelta(hours=72)
MAX_INVITE_LIFETIME = timedelta(days=30)
INVITE_PREFIX = "inv_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_invite(session: Session, *, lifetime: timedelta = DEFAULT_INVITE_LIFETIME, note: str = "") -> str:
    """A new invite token (shown once; put it in the link).

    Raises:
        AccountError: a lifetime outside one minute .. thirty days.
    """
    if not timedelta(minutes=1) <= lifetime <= MAX_INVITE_LIFETIME:
        raise AccountError("An invite must last between one minute and thirty days.")
    token = INVITE_PREFIX + secrets.token_urlsafe(24)
    now = utcnow()
    session.add(
        Invite(token_hash=_hash(token), note=note.strip()[:200], created_at=now, expires_at=now + lifetime)
    )
    session.flush()
    return token


def _well_formed(token: str | None) -> bool:
    return bool(token) and token is not None and token.startswith(INVITE_PREFIX) and len(token) <= 100


def invite_is_usable(session: Session, token: str | None) -> bool:
    """True when `token` names an invite that is unused and not expired (the form may be shown)."""
    if not _well_formed(token):
        return False
    assert token is not None
    invite = session.scalar(select(Invite).where(Invite.token_hash == _hash(token)))
    return invite is not None and invite.used_at is None and invite.expires_at > utcnow()


def consume_invite(session: Session, token: str | None) -> bool:
    """Mark the invite used, atomically; False when it is unknown, used or expired.

    A conditional UPDATE: of two registrations racing on one link, exactly one wins.
    """
    if not _well_formed(token):
        return False
    now = utcnow()
    stmt = (
        update(Invite)
        .where(Invite.token_hash == _hash(str(token)), Invite.used_at.is_(None), Invite.expires_at > now)
        .values(used_at=now)
    )
    return rows_affected(session.execute(stmt)) == 1
