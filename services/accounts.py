"""Users and API tokens: the one place that creates, checks and revokes credentials."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
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


def register_user(session: Session, email: str, password: str) -> User | None:
    """Self-registration: the new user, or None when the email is taken.

    The caller answers both outcomes the same way (no account enumeration); both cost one scrypt
    hash, so timing does not tell them apart either.

    Raises:
        AccountError: invalid email or short password (the input alone decides; nothing is stored).
    """
    try:
        return create_user(session, email, password)
    except AccountError:
        if validate_new_account(email, password):
            raise
        return None


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user when email and password match and the account is enabled, else None (same cost
    for unknown emails)."""
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or user.disabled_at is not None:
        return None
    return user


def user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise AccountError(f"no user with email {normalize_email(email)}")
    return user


def set_disabled(session: Session, email: str, *, disabled: bool) -> User:
    """Disable (or re-enable) a user. Disabling ends every session now; a disabled user's tokens
    are refused while disabled, and sessions from before a disable never come back.

    Raises:
        AccountError: no such user.
    """
    user = user_by_email(session, email)
    if disabled:
        user.disabled_at = user.disabled_at or utcnow()
        user.session_generation += 1
    else:
        user.disabled_at = None
    session.flush()
    return user


def end_all_sessions(session: Session, user_id: int) -> None:
    """Invalidate every session cookie issued to the user so far (used at logout)."""
    session.execute(
        update(User).where(User.id == user_id).values(session_generation=User.session_generation + 1)
    )


def _hash_token(token: str) -> str:
    # Tokens are 256-bit random values: a fast hash is enough, and lookups stay O(1) by index.
    return hashlib.sha256(token.encode()).hexdigest()


DEFAULT_TOKEN_LIFETIME = timedelta(days=90)
MAX_TOKEN_LIFETIME = timedelta(days=3650)


def issue_token(
    session: Session, email: str, *, name: str = "cli", lifetime: timedelta | None = DEFAULT_TOKEN_LIFETIME
) -> str:
    """Create an API token for `email` and return it; only its hash is stored.

    `lifetime` None makes a token that lasts until revoked.

    Raises:
        AccountError: no such user, or a lifetime that is not between one minute and ten years.
    """
    user = user_by_email(session, email)
    return issue_token_for(session, user.id, name=name, lifetime=lifetime)


def issue_token_for(session: Session, user_id: int, *, name: str, lifetime: timedelta | None) -> str:
    """As `issue_token`, for a user known by id (the tokens page)."""
    if lifetime is not None and not timedelta(minutes=1) <= lifetime <= MAX_TOKEN_LIFETIME:
        raise AccountError("A token's lifetime must be between one minute and ten years.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + lifetime if lifetime is not None else None
    session.add(
        ApiToken(
            user_id=user_id, token_hash=_hash_token(token), name=name.strip()[:100], expires_at=expires_at
        )
    )
    session.flush()
    return token


def list_tokens(session: Session, user_id: int) -> list[ApiToken]:
    """All the user's tokens, newest first, revoked and expired ones included (their history)."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        ).all()
    )


def token_state(token: ApiToken, now: datetime) -> str:
    """`active`, `revoked` or `expired`: what the tokens page and `tokens list` show."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def revoke_token(session: Session, user_id: int, token_id: int) -> bool:
    """Revoke one of the user's live tokens; False when it is not theirs or already revoked."""
    stmt = update(ApiToken).where(
        ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)
    )
    return rows_affected(session.execute(stmt.values(revoked_at=utcnow()))) == 1


def revoke_tokens(session: Session, email: str, *, name: str | None = None) -> int:
    user = user_by_email(session, email)
    stmt = update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if name is not None:
        stmt = stmt.where(ApiToken.name == name)
    return rows_affected(session.execute(stmt.values(revoked_at=utcnow())))


LAST_USED_RESOLUTION = timedelta(minutes=1)


def user_for_token(session: Session, token: str) -> User | None:
    """The owner of a live token, or None for a malformed, unknown, revoked or expired one, or one
    whose owner is disabled."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    now = utcnow()
    found = session.execute(
        select(ApiToken, User)  # one statement: the owner comes with the token, not lazily after it
        .join(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == _hash_token(token),
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
            User.disabled_at.is_(None),
        )
    ).first()
    if found is None:
        return None
    row, user = found
    # "Last used" to the minute is all anyone reads; writing it on every request made each
    # token-authenticated GET a write transaction (~45% of a since_step poll's time).
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
    return user
