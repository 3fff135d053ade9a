"""The monitor's adapter card: a download only when PIPELINE holds the file, the checksum shortened."""

from __future__ import annotations

from typing import Any

from components.artifact_view import ARTIFACT_DOWNLOAD, artifact_card, short_checksum
from tests.component_tree import walk

DIGEST = "ab" * 32
ARTIFACT: dict[str, Any] = {
    "id": 1,
    "uri": "file:///data/runs/j/adapter/adapter_model.safetensors",
    "size_bytes": 3 * 1024 * 1024,
    "checksum": f"sha256:{DIGEST}",
    "created_at": "2026-12-03T10:00:00+00:00",
    "download_url": "/api/jobs/j/artifact/download?expires=1&signature=s",
}


def _texts(card: Any) -> list[str]:
    """Every text child in the tree."""
    texts: list[str] = []
    for component in walk(card):
        children = getattr(component, "children", None)
        for child in children if isinstance(children, list) else [children]:
            if isinstance(child, str):
                texts.append(child)
    return texts


def _link(card: Any) -> Any:
    return next((c for c in walk(card) if getattr(c, "id", None) == ARTIFACT_DOWNLOAD), None)


def test_held_file_gets_a_download_link_and_readable_facts() -> None:
    card = artifact_card(ARTIFACT)
    assert _link(card).href == ARTIFACT["download_url"]
    texts = _texts(card)
    assert "3.0 MB" in texts
    assert ARTIFACT["uri"] in texts
    assert f"sha256:{DIGEST[:16]}…" in texts


def test_a_file_elsewhere_is_shown_without_a_link_and_no_artifact_draws_nothing() -> None:
    card = artifact_card({**ARTIFACT, "uri": "s3://b/a.safetensors", "download_url": None})
    assert _link(card) is None
    assert any("no copy to send" in text for text in _texts(card))
    assert artifact_card(None) is None


def test_short_checksum() -> None:
    assert short_checksum(None) == "—"
    assert short_checksum("sha256:abc") == "sha256:abc"
    assert short_checksum(f"sha256:{DIGEST}") == f"sha256:{DIGEST[:16]}…"
