"""Sign-in and registration limits, with flask-limiter on Redis (shared by every web process; process
memory in embedded mode, which has one process and no Redis).

Three limits, chosen so an attacker cannot lock the real user out (docs/security.md):
- per client address, every sign-in attempt: LOGIN_ATTEMPTS_PER_MINUTE a minute;
- per account *and* address, failed sign-ins only, escalating: LOGIN_FAILURES_PER_ACCOUNT a minute,
  4x that an hour, 10x a day. A guesser at one address slows to a crawl on that account, while the
  account's owner signing in from any other address is not affected;
- per client address, registration attempts: REGISTRATIONS_PER_HOUR an hour.
The client address is `request.remote_addr`, which ProxyFix rewrites only for TRUSTED_PROXIES hops.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, make_response, render_template, request
from flask_limiter import Limiter, RequestLimit

from settings import Settings

LOGIN_ENDPOINT = "auth.login"
REGISTER_ENDPOINT = "auth.register"
TOO_MANY_LOGINS = "Too many sign-in attempts from here. Wait a minute and try again."
TOO_MANY_REGISTRATIONS = "Too many registrations from this address. Try again later."


def client_address() -> str:
    return request.remote_addr or "unknown"


def _account_at_address() -> str:
    """The limit key for one account tried from one address (hashed: the email may be any size)."""
    email = request.form.get("email", "").strip().lower()
    return hashlib.sha256(f"{email}\n{client_address()}".encode()).hexdigest()


def _failed_sign_in(response: Response) -> bool:
    return response.status_code == 401


def _retry_after(limit: RequestLimit) -> str:
    """Seconds until the window resets: at least 1, and never more than the window itself (the
    storage's reset time is rounded up to a whole second, which could otherwise read 61 for 60)."""
    remaining = limit.reset_at - int(datetime.now(UTC).timestamp())
    return str(min(limit.limit.get_expiry(), max(1, remaining)))


def _page(template: str, **context: object) -> Callable[[RequestLimit], Response]:
    def breached(limit: RequestLimit) -> Response:
        values = {key: value() if callable(value) else value for key, value in context.items()}
        response = make_response(render_template(template, **values), 429)
        response.headers["Retry-After"] = _retry_after(limit)
        return response

    return breached


def init_rate_limits(app: Flask, settings: Settings) -> Limiter:
    """Attach the limiter and the three limits to the auth blueprint's views (already registered)."""
    limiter = Limiter(
        client_address,
        app=app,
        storage_uri=settings.redis_url or "memory://",
        storage_options={"socket_timeout": 5, "socket_connect_timeout": 5} if settings.redis_url else {},
        strategy="moving-window",
        key_prefix="pipeline:limits",
        # Redis unreachable: count in this process's memory rather than answer 500 to every sign-in.
        in_memory_fallback_enabled=True,
    )
    login_page = _page(
        "login.html",
        next="",  # the form falls back to the jobs list
        email=lambda: request.form.get("email", ""),
        error=TOO_MANY_LOGINS,
        notice=None,
        registration_open=settings.registration_open,
    )
    per_account = settings.login_failures_per_account
    login_limits = [
        limiter.limit(f"{settings.login_attempts_per_minute}/minute", methods=["POST"], on_breach=login_page),
        limiter.limit(
            f"{per_account}/minute;{per_account * 4}/hour;{per_account * 10}/day",
            key_func=_account_at_address,
            methods=["POST"],
            deduct_when=_failed_sign_in,
            on_breach=login_page,
        ),
    ]
    register_limit = limiter.limit(
        f"{settings.registrations_per_hour}/hour",
        methods=["POST"],
        on_breach=_page("register.html", email="", errors={"form": TOO_MANY_REGISTRATIONS}, invite=""),
    )
    # Wrapped per app (tests build several apps; the blueprint's functions are shared).
    view: Any = app.view_functions[LOGIN_ENDPOINT]
    for limit in login_limits:
        view = limit(view)
    app.view_functions[LOGIN_ENDPOINT] = view
    app.view_functions[REGISTER_ENDPOINT] = register_limit(app.view_functions[REGISTER_ENDPOINT])  # type: ignore[assignment]
    return limiter
