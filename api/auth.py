"""Sign-in: sessions (cookies) for the browser, bearer tokens for programs, and the one guard
that every request passes through before it reaches a page, an API route or a Dash callback.

Login and registration are plain server-rendered forms rather than Dash pages: they must work
before the user may call Dash's callback endpoint, and without JavaScript.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Flask, Response, g, redirect, render_template, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from api.errors import error_response, wants_json
from api.ratelimit import init_rate_limits
from api.runtime import get_runtime
from db.models import User
from services.accounts import (
    AccountError,
    authenticate,
    end_all_sessions,
    register_user,
    user_for_token,
    validate_new_account,
)
from services.invites import consume_invite, invite_is_usable
from settings import Settings

bp = Blueprint("auth", __name__, template_folder="templates")

# Routes anyone may reach. Everything else needs a session or a token. Signed routes
# (/storage, /api/training-callback) check their own signatures.
PUBLIC_PATHS = frozenset({"/login", "/register", "/api/health", "/api/training-callback", "/favicon.ico"})
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/storage/", "/_favicon.ico")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HOME = "/training/jobs"
LOGIN_FAILED = "Incorrect email or password."
# The one answer to every accepted registration, new email or taken (no account enumeration).
REGISTERED = "Registration received. Sign in with your email and password."
INVITE_UNUSABLE = "This invite link is used, expired or unknown. Ask your administrator for a new one."


class SessionUser(UserMixin):
    """What flask-login keeps for a signed-in user: id, email and the session generation."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.email = user.email
        self.generation = user.session_generation

    def get_id(self) -> str:
        # The generation rides in the cookie; logout bumps it, so a replayed cookie stops matching.
        return f"{self.id}:{self.generation}"


def load_session_user(alt_id: str) -> SessionUser | None:
    try:
        user_id, generation = (int(part) for part in alt_id.split(":"))
    except ValueError:
        return None
    with get_runtime().transaction() as db:
        user = db.get(User, user_id)
        if user is None or user.session_generation != generation or user.disabled_at is not None:
            return None
        return SessionUser(user)


def is_safe_next(target: str | None) -> bool:
    """Only same-site absolute paths: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return False
    parts = urlsplit(target)
    return parts.scheme == "" and parts.netloc == ""


def _same_origin() -> bool:
    """A cookie-authenticated write must come from our own pages (CSRF defence beside SameSite=Lax).

    Browsers send Origin on every cross-site POST (and on same-origin fetches); when it is absent we
    fall back to Referer, and refuse when both are missing. Our origin is the request's own (behind
    a trusted TLS-terminating proxy ProxyFix makes it https://<public host>) or PUBLIC_BASE_URL's.
    """
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin in (request.host_url.rstrip("/"), _public_origin())


def _public_origin() -> str:
    parts = urlsplit(get_runtime().settings.public_base_url)
    return f"{parts.scheme}://{parts.netloc}"


def _authenticate_bearer(header: str) -> BaseResponse | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_response(401, "Not authenticated", "Authorization must be 'Bearer <token>'.")
    with get_runtime().transaction() as db:
        user = user_for_token(db, token.strip())
        if user is None:
            return error_response(401, "Not authenticated", "The API token is invalid, expired or revoked.")
        g._login_user = SessionUser(user)  # flask-login reads the current user from here
    g.auth_method = "token"
    return None


def guard() -> BaseResponse | None:
    """The single gate in front of every route (docs/architecture.md §10)."""
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    header = request.headers.get("Authorization")
    if header is not None:
        return _authenticate_bearer(header)
    if not current_user.is_authenticated:
        if wants_json() or request.method not in SAFE_METHODS:
            return error_response(
                401, "Not authenticated", "Sign in, or send 'Authorization: Bearer <token>'."
            )
        target = request.full_path.rstrip("?") if request.query_string else path
        return redirect("/login?" + urlencode({"next": target}))
    g.auth_method = "session"
    if request.method not in SAFE_METHODS and not _same_origin():
        return error_response(403, "Cross-site request refused", "The request's Origin is not this site.")
    if path == "/":
        return redirect(HOME)
    return None


def _start_session(user: User) -> None:
    session.clear()  # a new cookie value at every login (no session fixation)
    session["nonce"] = secrets.token_urlsafe(16)
    login_user(SessionUser(user))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | BaseResponse | str | tuple[str, int]:
    next_url = request.values.get("next", "")
    next_url = next_url if is_safe_next(next_url) else HOME
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(next_url)
        notice = REGISTERED if request.args.get("registered") else None
        return _login_page(next_url, "", None, notice)
    if not _same_origin():
        return _login_page(next_url, "", "Please sign in from this page."), 403
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    # Rate limits (api/ratelimit.py) wrap this view: a 401 here counts against this account and address.
    with get_runtime().transaction() as db:
        user = authenticate(db, email, password)
    if user is None:
        return _login_page(next_url, email, LOGIN_FAILED), 401
    _start_session(user)
    return redirect(next_url)


def _login_page(next_url: str, email: str, error: str | None, notice: str | None = None) -> str:
    open_ = get_runtime().settings.registration_open
    return render_template(
        "login.html", next=next_url, email=email, error=error, notice=notice, registration_open=open_
    )


def _register_page(email: str, errors: dict[str, str], invite: str, *, closed: bool = False) -> str:
    return render_template("register.html", email=email, errors=errors, invite=invite, closed=closed)


@bp.route("/register", methods=["GET", "POST"])
def register() -> Response | BaseResponse | str | tuple[str, int]:
    """Self-registration when REGISTRATION_OPEN, else only through an unused, unexpired invite link.

    Every accepted form gets the same answer (a redirect to sign in), whether the email was new or
    taken; an invite is used up either way.
    """
    invite = request.values.get("invite", "")[:100]
    registration_open = get_runtime().settings.registration_open
    if not registration_open and not invite:
        return _register_page("", {}, "", closed=True), 403
    if request.method == "GET":
        if invite:
            with get_runtime().transaction() as db:
                usable = invite_is_usable(db, invite)
            if not usable:
                return _register_page("", {"form": INVITE_UNUSABLE}, "", closed=True), 403
        return _register_page("", {}, invite)
    if not _same_origin():
        return _register_page("", {"form": "Please register from this page."}, invite), 403
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    errors = validate_new_account(email, password)
    if password != request.form.get("password_confirm", password):
        errors["password_confirm"] = "The two passwords differ."
    if errors:
        return _register_page(email, errors, invite), 400
    try:
        with get_runtime().transaction() as db:
            if invite and not consume_invite(db, invite):
                raise AccountError(INVITE_UNUSABLE)
            register_user(db, email, password)  # None when taken: answered the same way
    except AccountError as exc:
        return _register_page(email, {"form": str(exc)}, "", closed=True), 403
    return redirect("/login?registered=1")


@bp.route("/logout", methods=["POST"])
def logout() -> BaseResponse:
    if current_user.is_authenticated and g.get("auth_method") == "session":
        with get_runtime().transaction() as db:
            end_all_sessions(db, int(current_user.id))
    logout_user()
    session.clear()
    return redirect("/login")


def trust_proxies(app: Flask, hops: int) -> None:
    """Read client address, scheme, host and port from X-Forwarded-* set by `hops` trusted proxies.

    Neither gunicorn nor werkzeug does this by default (gunicorn's --forwarded-allow-ips only
    affects the scheme); without it every client behind a proxy shares the proxy's address. With
    hops=0 the headers are ignored, so a client cannot forge its address.
    """
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )


def init_auth(app: Flask, settings: Settings) -> None:
    manager = LoginManager()
    manager.user_loader(load_session_user)
    manager.init_app(app)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        SESSION_COOKIE_NAME="pipeline_session",
    )
    app.register_blueprint(bp)
    app.before_request(guard)
    init_rate_limits(app, settings)
    trust_proxies(app, settings.trusted_proxies)
