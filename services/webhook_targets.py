"""Where an outgoing webhook may point (SSRF defence): http(s) only, and by default only public addresses.

Checked when a webhook is saved (`target_problem`, the reason shown to the user) and again before
every delivery (`resolve_target`: DNS can change), where the request is then sent to the address that
was checked, never re-resolved. WEBHOOKS_ALLOW_PRIVATE lifts the address rule for on-premise installs.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """The URL may not be called; the message says why, in words fit for the user."""


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: its parts, and the address the request must go to."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent
    address: IpAddress


def forbidden_kind(address: IpAddress) -> str | None:
    """Why this address is not a public one ("loopback", "private", ...), or None when it is."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:  # ::ffff:127.0.0.1 is 127.0.0.1
        address = mapped
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    for kind, hit in checks:
        if hit:
            return kind
    return None if address.is_global else "non-public"


def parse_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path+query) of an http(s) URL.

    Raises:
        TargetRefused: not http(s), no host, credentials in it, a bad port, or too long.
    """
    if not isinstance(url, str) or not url.strip():
        raise TargetRefused("enter the URL to call, starting with https://")
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise TargetRefused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetRefused("must be an http:// or https:// URL")
    if not parts.hostname:
        raise TargetRefused("has no host name")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("must not contain a user name or password")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def resolve_target(url: str, *, allow_private: bool) -> Target:
    """Parse `url`, resolve its host and check *every* address it resolves to.

    Raises:
        TargetRefused: a bad URL, a host that does not resolve, or (unless allow_private) any
            address that is not public.
    """
    scheme, host, port, path = parse_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"host {host!r} does not resolve ({exc})") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"host {host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            kind = forbidden_kind(address)
            if kind is not None:
                raise TargetRefused(
                    f"points at a {kind} address ({address}); webhooks may only call public addresses"
                )
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


def target_problem(url: str, *, allow_private: bool) -> str | None:
    """Why `url` cannot be a webhook target, or None (the form and the API show the reason)."""
    try:
        resolve_target(url, allow_private=allow_private)
    except TargetRefused as exc:
        return str(exc)
    return None
