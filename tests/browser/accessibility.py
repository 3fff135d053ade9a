"""Every visible control on a page has an accessible name, as Chromium computes it.

Uses WebDriver's "Get Computed Label" (Selenium's ``accessible_name``): the name a screen reader
announces, from <label for>, aria-label, content or title, after the browser applies all the rules.
"""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

CONTROLS = "input:not([type=hidden]), select, textarea, button, a[href], [role=button]"


def _describe(element: Any) -> str:
    return element.get_attribute("outerHTML")[:160]


def unnamed_controls(dash_duo: Any) -> list[str]:
    """The visible controls without an accessible name (empty list = all named)."""
    missing = []
    for element in dash_duo.driver.find_elements(By.CSS_SELECTOR, CONTROLS):
        if not element.is_displayed():
            continue  # e.g. the collapsed navbar menu on phones, dcc.Upload's hidden file input
        if not (element.accessible_name or "").strip():
            missing.append(_describe(element))
    return missing
