"""Signing in through the real login page in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fixtures.browser import sign_in_browser
from tests.ports import free_port

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_login001_sign_in_shows_navbar_with_email(dash_duo: Any, app: Any, user: dict[str, Any]) -> None:
    dash_duo.start_server(app, navigate=False, port=free_port())
    dash_duo.driver.get(f"{dash_duo.server.url}/training/jobs")
    # the guard sent the browser to the login page, remembering where it was going
    dash_duo.wait_for_element("#login-submit")
    assert "/login?next=%2Ftraining%2Fjobs" in dash_duo.driver.current_url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dash_duo.driver.save_screenshot(str(SCREENSHOTS / "login.png"))

    sign_in_browser(dash_duo, user["email"], user["password"])
    assert dash_duo.driver.current_url.endswith("/training/jobs")
    assert dash_duo.find_element("#navbar-user").text == user["email"]
    dash_duo.driver.save_screenshot(str(SCREENSHOTS / "signed-in-navbar.png"))
    assert dash_duo.get_logs() == []


def test_login002_wrong_password_shows_message(dash_duo: Any, app: Any, user: dict[str, Any]) -> None:
    dash_duo.start_server(app, navigate=False, port=free_port())
    dash_duo.driver.get(f"{dash_duo.server.url}/login")
    dash_duo.wait_for_element("#email").send_keys(user["email"])
    dash_duo.find_element("#password").send_keys("not the password")
    dash_duo.find_element("#login-submit").click()
    assert dash_duo.wait_for_element("#login-error").text == "Incorrect email or password."
