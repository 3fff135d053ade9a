"""The page's Plotly is the vendored basic build, of the version the Python package was built for."""

from __future__ import annotations

import re

from plotly.offline import get_plotlyjs_version

from app import PLOTLY_BUNDLE


def test_the_vendored_basic_bundle_is_the_python_packages_plotly_version() -> None:
    banner = PLOTLY_BUNDLE.read_bytes()[:200].decode()
    found = re.search(r"plotly\.js \(basic - minified\) v(\S+)", banner)
    assert found is not None, banner
    assert found.group(1) == get_plotlyjs_version()
