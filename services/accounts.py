"""Users and API tokens: the one place that creates, checks and revokes credentials."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from db.base import utcnow
from db.models import ApiToken, User
from db.session import rows_affected

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "lp_"
# A deliberately simple shape check: one @, no spaces, a dot in the domain. Deliverability is the
# mail server's business; this catches typos and garbage before anything is stored.
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
# Checked against when the email is unknown, so both failure paths cost one scrypt verification.
_DUMMY_HASH = generate_password_hash("not-a-real-password-0000")


class AccountError(ValueError):
    """A request about accounts that cannot be honoured; the message is safe to show the user."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def validate_new_account(email: str, password: str) -> dict[str, str]:
    """Field errors for a registration, empty when it is acceptable."""
    errors: dict[str, str] = {}
    if not _EMAIL_RE.match(normalize_email(email)) or len(email) > 254:
        errors["email"] = "Enter a valid email address, like name@example.com."
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"Use at least {MIN_PASSWORD_LENGTH} characters."
    return errors


def create_user(session: Session, email: str, password: str) -> User:
    """Create a user with a scrypt password hash.

    Raises:
        AccountError: invalid email, short password, or the email is taken. Nothing is stored then.
    """
    errors = validate_new_account(email, password)
    if errors:
        raise AccountError(" ".join(errors.values()))
    user = User(email=normalize_email(email), password_hash=generate_password_hash(password))
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise AccountError("An account with this email already exists.") from None
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user when email and password match, else None (same cost for unknown emails)."""
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def end_all_sessions(session: Session, user_id: int) -> None:
    """Invalidate every session cookie issued to the user so far (used at logout)."""
    session.execute(
        update(User).where(User.id == user_id).values(session_generation=User.session_generation + 1)
    )


def _hash_token(token: str) -> str:
    # Tokens are 256-bit random values: a fast hash is enough, and lookups stay O(1) by index.
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, email: str, *, name: str = "cli") -> str:
    """Create an API token for `email` and return it; only its hash is stored."""
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise AccountError(f"no user with email {normalize_email(email)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_hash_token(token), name=name[:100]))
    session.flush()
    return token


def revoke_tokens(session: Session, email: str, *, name: str | None = None) -> int:
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise AccountError(f"no user with email {normalize_email(email)}")
    stmt = update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if name is not None:
        stmt = stmt.where(ApiToken.name == name)
    return rows_affected(session.execute(stmt.values(revoked_at=utcnow())))


LAST_USED_RESOLUTION = timedelta(minutes=1)


def user_for_token(session: Session, token: str) -> User | None:
    """The owner of a live token, or None for a malformed, unknown or revoked one."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _hash_token(token), ApiToken.revoked_at.is_(None))
    )
    if row is None:
        return None
    now = utcnow()
    # "Last used" to the minute is all anyone reads; writing it on every request made each
    # token-authenticated GET a write transaction (~45% of a since_step poll's time).
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
    return row.user
