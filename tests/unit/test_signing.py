from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from contract.signing import signed_dataset_url, verify_storage_signature

KEY = "k" * 32


def _parts(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path, query["expires"][0], query["signature"][0]


def test_signed_url_verifies_until_it_expires() -> None:
    url = signed_dataset_url(KEY, "https://pipeline.example", "7/abc.jsonl", ttl_seconds=60, now=1000)
    assert url.startswith("https://pipeline.example/storage/datasets/7/abc.jsonl?")
    path, expires, signature = _parts(url)
    assert verify_storage_signature(KEY, path, expires, signature, now=1059)
    assert not verify_storage_signature(KEY, path, expires, signature, now=1061)


def test_tampering_breaks_the_signature() -> None:
    path, expires, signature = _parts(signed_dataset_url(KEY, "http://h", "7/abc.jsonl", now=1000))
    assert not verify_storage_signature(KEY, path.replace("7/", "8/"), expires, signature, now=1000)
    assert not verify_storage_signature(KEY, path, str(int(expires) + 1), signature, now=1000)
    assert not verify_storage_signature(KEY, path, expires, signature[:-1] + "0", now=1000)
    assert not verify_storage_signature("x" * 32, path, expires, signature, now=1000)
    assert not verify_storage_signature(KEY, path, None, signature, now=1000)
    assert not verify_storage_signature(KEY, path, "soon", signature, now=1000)


def test_non_ascii_signature_or_expiry_is_refused_not_an_error() -> None:
    assert not verify_storage_signature(KEY, "datasets/a.jsonl", "9999999999", "é" * 64)
    assert not verify_storage_signature(KEY, "datasets/a.jsonl", "²", "a" * 64)
