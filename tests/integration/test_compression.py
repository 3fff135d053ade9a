"""Compressed responses and bundle lifetimes through create_app's real Flask app (api/compression.py):
brotli or gzip as the client asks, identity when it does not, the original bytes back, bundles
compressed once, fingerprinted bundles immutable, and the one-time secrets never compressed."""

from __future__ import annotations

import gzip
import re
from typing import Any

import brotli
import pytest
from flask.testing import FlaskClient

import api.compression
from api.compression import IMMUTABLE

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

DECODE = {"br": brotli.decompress, "gzip": gzip.decompress}


def _bundles(client: FlaskClient) -> list[str]:
    """The script and stylesheet URLs of a page, as the browser reads them from its HTML."""
    html = client.get("/training/jobs").get_data(as_text=True)
    return re.findall(r'(?:src|href)="(/(?:_dash-component-suites|assets)/[^"]+)"', html)


def _suite(client: FlaskClient, name: str) -> str:
    return next(url for url in _bundles(client) if name in url)


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_a_bundle_comes_compressed_as_asked_and_decodes_to_the_original(
    auth_client: FlaskClient, encoding: str
) -> None:
    url = _suite(auth_client, "dash_renderer")
    plain = auth_client.get(url)
    assert plain.headers.get("Content-Encoding") is None  # no Accept-Encoding: identity
    packed = auth_client.get(url, headers={"Accept-Encoding": f"{encoding}, identity;q=0.5"})
    assert packed.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert len(packed.data) < len(plain.data) / 3
    assert DECODE[encoding](packed.data) == plain.data
    assert int(packed.headers["Content-Length"]) == len(packed.data)


def test_brotli_is_preferred_and_a_refused_encoding_is_never_used(auth_client: FlaskClient) -> None:
    url = _suite(auth_client, "dash_renderer")
    assert auth_client.get(url, headers={"Accept-Encoding": "gzip, br"}).headers["Content-Encoding"] == "br"
    only_gzip = auth_client.get(url, headers={"Accept-Encoding": "gzip, br;q=0"})
    assert only_gzip.headers["Content-Encoding"] == "gzip"
    neither = auth_client.get(url, headers={"Accept-Encoding": "deflate"})
    assert neither.headers.get("Content-Encoding") is None


def test_a_bundle_is_compressed_once_and_then_served_from_memory(
    auth_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    compress = api.compression._compress

    def counting(encoding: str, data: bytes, level: int) -> bytes:
        calls.append(encoding)
        return compress(encoding, data, level)

    monkeypatch.setattr(api.compression, "_compress", counting)
    url = _suite(auth_client, "dash_core_components.v")
    first = auth_client.get(url, headers={"Accept-Encoding": "br"})
    second = auth_client.get(url, headers={"Accept-Encoding": "br"})
    auth_client.get(url, headers={"Accept-Encoding": "gzip"})
    auth_client.get(url, headers={"Accept-Encoding": "gzip"})
    assert first.data == second.data
    # at most once per encoding in this process (an earlier test may have asked for it already)
    assert calls.count("br") <= 1
    assert calls.count("gzip") <= 1


def test_fingerprinted_bundles_are_immutable_and_the_rest_revalidate(auth_client: FlaskClient) -> None:
    bundles = _bundles(auth_client)
    suite = next(url for url in bundles if url.startswith("/_dash-component-suites/"))
    asset = next(url for url in bundles if url.startswith("/assets/") and "?m=" in url)
    favicon = re.search(
        r'href="(/_favicon\.ico\?v=[^"]+)"', auth_client.get("/training/jobs").get_data(as_text=True)
    )
    assert favicon is not None
    for url in (suite, asset, favicon.group(1)):
        assert auth_client.get(url).headers["Cache-Control"] == IMMUTABLE, url

    unversioned = re.sub(r"\.v[\w]+m\d+", "", suite)  # the same file without its fingerprint
    response = auth_client.get(unversioned)
    assert response.status_code == 200
    assert "immutable" not in response.headers.get("Cache-Control", "")
    bare = auth_client.get(asset.split("?")[0], headers={"Accept-Encoding": "br"})
    assert "immutable" not in bare.headers.get("Cache-Control", "")
    etag = bare.headers["ETag"]  # the compressed variant has its own validator, and it revalidates
    again = auth_client.get(asset.split("?")[0], headers={"Accept-Encoding": "br", "If-None-Match": etag})
    assert again.status_code == 304


def test_api_answers_and_callbacks_are_compressed_per_request(
    auth_client: FlaskClient, app: Any, runtime: Any, user: dict[str, Any]
) -> None:
    from tests.factories import make_job_history

    with runtime.transaction() as session:
        make_job_history(session, user["id"], 20)
    api = auth_client.get("/api/jobs?limit=20", headers={"Accept-Encoding": "br"})
    assert api.headers["Content-Encoding"] == "br"
    assert brotli.decompress(api.data).startswith(b"{")
    plain = auth_client.get("/api/jobs?limit=20")
    assert plain.headers.get("Content-Encoding") is None
    assert plain.get_json()["data"]["items"]


def test_csv_export_streams_uncompressed_and_whole(
    auth_client: FlaskClient, runtime: Any, user: dict[str, Any]
) -> None:
    from tests.factories import make_dataset, make_job

    with runtime.transaction() as session:
        job = make_job(session, user["id"], make_dataset(session, user["id"]).id)
        job_id = job.id
    response = auth_client.get(f"/api/jobs/{job_id}/metrics.csv", headers={"Accept-Encoding": "br, gzip"})
    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") is None
    assert response.get_data(as_text=True).splitlines()[0].startswith("step")


def test_a_new_api_token_is_shown_in_an_uncompressed_answer(auth_client: FlaskClient, app: Any) -> None:
    auth_client.get("/training/jobs")  # the first request makes Dash collect the pages' callbacks
    key = next(k for k in app.callback_map if k.startswith("..tokens-list.children...token-created"))
    body = {
        "output": key,
        "outputs": [
            {"id": "tokens-list", "property": "children"},
            {"id": "token-created", "property": "children"},
        ],
        "inputs": [{"id": "token-create", "property": "n_clicks", "value": 1}],
        "state": [
            {"id": "token-name", "property": "value", "value": "ci"},
            {"id": "token-lifetime", "property": "value", "value": "30"},
        ],
        "changedPropIds": ["token-create.n_clicks"],
    }
    headers = {"Accept-Encoding": "br, gzip"}
    response = auth_client.post("/_dash-update-component", json=body, headers=headers)
    assert response.status_code == 200
    assert b"token-value" in response.data
    assert len(response.data) > 500  # big enough that it would have been compressed
    assert response.headers.get("Content-Encoding") is None
    assert "Accept-Encoding" in response.headers["Vary"]


def test_pages_load_plotlys_basic_build_immutable_and_compressed(auth_client: FlaskClient) -> None:
    """The page's own Plotly (the basic build, an asset) comes before the renderer draws a graph, so
    dcc never fetches its 4.7 MB full build; it is served at a third of the full build's size."""
    url = next(url for url in _bundles(auth_client) if "plotly-basic.min.js" in url)
    answer = auth_client.get(url, headers={"Accept-Encoding": "br"})
    assert answer.headers["Cache-Control"] == IMMUTABLE
    assert answer.headers["Content-Encoding"] == "br"
    assert len(answer.data) < 400_000
    assert brotli.decompress(answer.data).startswith(b"/**\n* plotly.js (basic")
