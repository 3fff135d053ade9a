"""Compressed responses and long cache lifetimes for the bundles (docs/architecture.md §1a).

- **Dynamic responses** (Dash callbacks, `/api/*`, pages) go through flask-compress per request at a
  cheap level: brotli when the client accepts it, else gzip, never when it asks for neither.
- **Static bundles** (Dash's component suites, `/assets/`) are compressed once per process at a
  high level and served from memory afterwards, keyed by their bytes, so a changed file is never
  served stale and a bundle is never recompressed per request. The largest (Plotly's, 1.2 MB,
  about 0.3 s of CPU at brotli 9) is compressed in a background thread when the app is built, so
  the first visitor does not wait for it.
- **Streams** (CSV export, downloads) are left alone: flask-compress would buffer or re-chunk them.
- Fingerprinted bundle URLs (`.v4_4_1m1700000000.js`, `?m=<mtime>`, `?v=<version>`) are cached for
  a year as immutable; other static URLs keep their validators (ETag) and are revalidated.
- A response that shows a one-time secret is sent uncompressed (`keep_uncompressed`; BREACH,
  docs/security.md).

Dash's own `compress=True` is not used: it forces gzip only and gives no per-route control.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import brotli
from dash.fingerprint import check_fingerprint
from flask import Flask, g, request
from flask.wrappers import Response
from flask_compress import Compress

ALGORITHMS: Final = ("br", "gzip")  # preferred first when the client rates them equally
DYNAMIC_LEVELS: Final = {"br": 4, "gzip": 6}
STATIC_LEVELS: Final = {"br": 9, "gzip": 9}
SUITES: Final = "/_dash-component-suites/"
STATIC_PREFIXES: Final = (SUITES, "/assets/", "/_favicon.ico")
IMMUTABLE: Final = "public, max-age=31536000, immutable"
_UNCOMPRESSED: Final = "_keep_uncompressed"


def keep_uncompressed() -> None:
    """Send the current request's response uncompressed: call it from a view or callback whose
    answer holds a secret beside text the user typed (a new API token, a webhook secret)."""
    setattr(g, _UNCOMPRESSED, True)


class StaticCache:
    """Compressed bundles, once per process: (encoding, length, CRC-32 of the bytes) -> bytes.

    Keyed by content, so every app a process builds (tests build many) shares one cache. A bundle
    being compressed is waited for, not compressed twice."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int, int], bytes] = {}
        self._locks: dict[tuple[str, int, int], threading.Lock] = {}
        self._guard = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def compressed(self, encoding: str, data: bytes) -> bytes:
        key = (encoding, len(data), zlib.crc32(data))
        found = self._entries.get(key)
        if found is not None:
            return found
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            found = self._entries.get(key)
            if found is None:
                found = _compress(encoding, data, STATIC_LEVELS[encoding])
                self._entries[key] = found
        return found


BUNDLES = StaticCache()


def _warm(cache: StaticCache, bundles: Sequence[Path]) -> None:
    """Compress the largest bundles for brotli clients ahead of the first visit."""
    for path in bundles:
        cache.compressed("br", path.read_bytes())


def _compress(encoding: str, data: bytes, level: int) -> bytes:
    if encoding == "br":
        return bytes(brotli.compress(data, quality=level))
    return gzip.compress(data, compresslevel=level, mtime=0)


def is_fingerprinted(path: str, args: dict[str, str]) -> bool:
    """Whether a static URL names one version of its file, so a browser may keep it for good."""
    if path.startswith(SUITES):
        return check_fingerprint(path[len(SUITES) :])[1]
    if path.startswith("/assets/"):
        return bool(args.get("m"))
    return path == "/_favicon.ico" and bool(args.get("v"))


def _add_vary(response: Response) -> None:
    vary = response.headers.get("Vary")
    if not vary:
        response.headers["Vary"] = "Accept-Encoding"
    elif "accept-encoding" not in vary.lower():
        response.headers["Vary"] = f"{vary}, Accept-Encoding"


def _static_response(response: Response, cache: StaticCache, mimetypes: set[str]) -> Response:
    """A bundle: the year-long lifetime when fingerprinted, and the cached compressed bytes."""
    if response.status_code != 200:
        return response
    if is_fingerprinted(request.path, request.args.to_dict()):
        response.headers["Cache-Control"] = IMMUTABLE
    _add_vary(response)
    encoding = request.accept_encodings.best_match(ALGORITHMS)
    if encoding is None or response.mimetype not in mimetypes or "Content-Encoding" in response.headers:
        return response
    response.direct_passthrough = False  # send_file's file wrapper: read it here
    body = cache.compressed(encoding, response.get_data())
    response.set_data(body)
    response.headers["Content-Encoding"] = encoding
    etag, weak = response.get_etag()
    if etag:
        response.set_etag(f"{etag}:{encoding}", weak=bool(weak))
        response.make_conditional(request)
    return response


def init_compression(server: Flask, *, warm: Sequence[Path] = ()) -> StaticCache:
    """Compress `server`'s responses, compressing the `warm` bundles ahead of time; returns the
    process's bundle cache (tests look at it)."""
    server.config.update(
        COMPRESS_ALGORITHM=list(ALGORITHMS),
        COMPRESS_BR_LEVEL=DYNAMIC_LEVELS["br"],
        COMPRESS_LEVEL=DYNAMIC_LEVELS["gzip"],
        COMPRESS_STREAMS=False,
        COMPRESS_REGISTER=False,  # one after_request below decides which path a response takes
    )
    dynamic = Compress(server)
    cache = BUNDLES
    threading.Thread(target=_warm, args=(cache, warm), name="warm-bundles-br", daemon=True).start()
    mimetypes = set(server.config["COMPRESS_MIMETYPES"])

    def compress_response(response: Response) -> Response:
        if g.get(_UNCOMPRESSED):
            _add_vary(response)
            return response
        if request.method in ("GET", "HEAD") and request.path.startswith(STATIC_PREFIXES):
            return _static_response(response, cache, mimetypes)
        return dynamic.after_request(response)

    server.after_request(compress_response)
    return cache
