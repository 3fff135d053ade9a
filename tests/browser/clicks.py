"""Clicks on elements below the fold, for long (paged) lists.

Bootstrap sets ``scroll-behavior: smooth``, so the scroll WebDriver does before a click is still
moving the element when it clicks ("element click intercepted"). Scroll without animation first.
"""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By


def click_in_view(driver: Any, element: Any) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", element)
    element.click()


def click_page_link(duo: Any, pager_id: str, text: str) -> None:
    """Click the link labelled `text` ("Next", "3") in the pager `pager_id`."""
    pager = duo.driver.find_element(By.CSS_SELECTOR, f"#{pager_id}")
    click_in_view(duo.driver, pager.find_element(By.LINK_TEXT, text))
