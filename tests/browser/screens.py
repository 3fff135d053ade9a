"""Screenshots of a page at desktop and phone width, in the light and dark themes.

Whole-page captures: the window is grown to the document's height first, so a long form at
phone width is seen entire. The theme is set the way the navbar toggle sets it (the
``data-bs-theme`` attribute on <html>), since the toggle sits in the collapsed menu on phones.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTHS = {"desktop": 1400, "phone": 390}
_MIN_HEIGHT = {"desktop": 900, "phone": 844}


def set_theme(dash_duo: Any, theme: str) -> None:
    dash_duo.driver.execute_script(
        "document.documentElement.setAttribute('data-bs-theme', arguments[0]);", theme
    )


def _emulate(driver: Any, width: int, height: int, mobile: bool) -> None:
    # Headless Chromium caps the window at its screen size, so a tall page is captured by
    # emulating a viewport of the page's height instead of resizing the window.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def save_screenshots(dash_duo: Any, name: str) -> list[Path]:
    """``docs/screenshots/<name>-<desktop|phone>-<light|dark>.png``; restores desktop light after."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver = dash_duo.driver
    saved = []
    for device, width in WIDTHS.items():
        mobile = device == "phone"
        _emulate(driver, width, _MIN_HEIGHT[device], mobile)
        time.sleep(0.3)  # let the layout settle at the new width before measuring
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        _emulate(driver, width, max(int(height), _MIN_HEIGHT[device]), mobile)
        for theme in ("light", "dark"):
            set_theme(dash_duo, theme)
            time.sleep(0.2)
            path = SCREENSHOTS / f"{name}-{device}-{theme}.png"
            driver.save_screenshot(str(path))
            saved.append(path)
    set_theme(dash_duo, "light")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return saved
