"""Browser hardening headers on every response (docs/security.md, "Browser hardening").

- **Content-Security-Policy** on HTML: scripts only from this origin plus the hashes of the inline
  scripts we serve (Dash's renderer start-up and clientside callbacks from `app.csp_hashes()`, the
  sign-in pages' theme script), so an injected `<script>` or `onerror=` never runs. Styles allow
  'unsafe-inline': Plotly writes `<style>` elements and React sets style attributes; style
  injection cannot run code. `frame-ancestors 'none'` (and X-Frame-Options for old browsers) stops
  clickjacking; `form-action 'self'` and `base-uri 'self'` stop a planted form or base tag.
- **X-Content-Type-Options: nosniff** and **Referrer-Policy: same-origin** on everything: a signed
  dataset URL (a 6-hour credential in its query string) never leaves in a Referer.
- **Strict-Transport-Security** only when the request arrived over HTTPS (`request.is_secure`,
  which a trusted proxy's X-Forwarded-Proto sets through ProxyFix): sent over plain HTTP it would be
  ignored, and on a development host it would pin HTTPS where there is none.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from dash import Dash
from flask import Response, request

TEMPLATES = Path(__file__).parent / "templates"
HSTS = "max-age=31536000; includeSubDomains"
REFERRER_POLICY = "same-origin"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def template_script_hashes(folder: Path = TEMPLATES) -> list[str]:
    """CSP hashes of the inline `<script>` blocks of our server-rendered pages (login, register)."""
    hashes = []
    for template in sorted(folder.glob("*.html")):
        for script in _INLINE_SCRIPT.findall(template.read_text()):
            digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
            hashes.append(f"'sha256-{digest}'")
    return hashes


def content_security_policy(script_hashes: Iterable[str]) -> str:
    directives = {
        "default-src": "'self'",
        "script-src": " ".join(["'self'", *sorted(set(script_hashes))]),
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data:",
        "font-src": "'self' data:",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def init_security_headers(app: Dash) -> None:
    """Add the headers to every response of `app.server`. Dash's hashes are read at each HTML
    response (a few short scripts): Dash adds inline scripts of its own during its first request
    (the pages' title callback), so a policy computed once could miss one."""
    template_hashes = template_script_hashes()

    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", REFERRER_POLICY)
        if response.mimetype == "text/html":
            policy = content_security_policy([*app.csp_hashes(), *template_hashes])
            headers.setdefault("Content-Security-Policy", policy)
            headers.setdefault("X-Frame-Options", "DENY")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    app.server.after_request(add_security_headers)
