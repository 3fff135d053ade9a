"""Dash callbacks live only in page modules (the ones that call `dash.register_page`), or are bound
to the app being built (`app.clientside_callback` in create_app).

Dash executes every page module afresh for each app it builds, so their `@callback`s reach every
app; a helper module is imported once per process, so a callback declared there reaches only the
first app built (a second app, as in a test process, silently lacked the monitor's adapter card
and its theme toggle did nothing).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DECLARES_CALLBACK = re.compile(r"^\s*(@(dash\.)?callback\(|(dash\.)?(clientside_)?callback\()", re.M)


def test_only_page_modules_declare_callbacks() -> None:
    modules = [
        ROOT / "app.py",
        *sorted((ROOT / "pages").rglob("*.py")),
        *sorted((ROOT / "components").rglob("*.py")),
    ]
    strays = [
        str(path.relative_to(ROOT))
        for path in modules
        if DECLARES_CALLBACK.search(path.read_text()) and "register_page(" not in path.read_text()
    ]
    assert strays == []


def test_the_check_sees_a_decorated_callback() -> None:
    assert DECLARES_CALLBACK.search('@callback(Output("a", "children"), Input("b", "data"))\ndef f(): ...')
    assert DECLARES_CALLBACK.search('dash.clientside_callback(\n    "function(x) { return x; }",')
    assert not DECLARES_CALLBACK.search("def callback_request(x): ...")
    assert not DECLARES_CALLBACK.search("    app.clientside_callback(\n        THEME_TOGGLE_JS,")
