"""`/account/tokens` in headless Chromium: reached from the navbar, a token created, shown once,
listed as active, then revoked."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from tests.fixtures.browser import sign_in_browser
from tests.ports import free_port


def test_tok001_create_and_revoke_a_token(dash_duo: Any, app: Any, user: dict[str, Any]) -> None:
    dash_duo.start_server(app, navigate=False, port=free_port())
    sign_in_browser(dash_duo, user["email"], user["password"])
    dash_duo.driver.find_element(By.LINK_TEXT, "API tokens").click()
    dash_duo.wait_for_text_to_equal("#tokens-empty", "You have no API tokens.", timeout=10)

    dash_duo.find_element("#token-name").send_keys("laptop")
    dash_duo.find_element("#token-create").click()
    token = dash_duo.wait_for_element("#token-value", timeout=10).text
    assert token.startswith("lp_")
    dash_duo.wait_for_contains_text("#tokens-table", "laptop", timeout=10)
    assert "active" in dash_duo.find_element("#tokens-table").text

    dash_duo.find_element("#tokens-table button").click()
    dash_duo.wait_for_contains_text("#tokens-table", "revoked", timeout=10)
    assert dash_duo.find_elements("#tokens-table button") == []
    assert dash_duo.get_logs() == []
