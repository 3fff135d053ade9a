"""`.ci/catalog_docs.py` as a module, for the tests that check the documents against the catalogues."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def catalog_docs() -> ModuleType:
    """The generator of the documents' catalogue blocks (`.ci` is not a package, so load it by path)."""
    spec = importlib.util.spec_from_file_location("catalog_docs", ROOT / ".ci" / "catalog_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
