"""/datasets in headless Chromium on PostgreSQL: upload (valid, invalid), list, delete rules."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import func, select

from api.runtime import Runtime
from app import create_app
from components.dataset_view import delete_button_id
from components.job_form import dom_id
from db.models import Dataset, JobStatus
from settings import Settings
from tests.accounts import make_user
from tests.browser.accessibility import unnamed_controls
from tests.browser.screens import save_screenshots
from tests.factories import make_dataset, make_job
from tests.fixtures.browser import sign_in_browser
from tests.ports import free_port

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def _open(dash_duo: Any) -> None:
    dash_duo.driver.get(f"{dash_duo.server.url}/datasets")
    dash_duo.wait_for_element("#datasets-upload")


def _upload(dash_duo: Any, path: Path) -> None:
    # dcc.Upload's <input type=file> is hidden; chromedriver still accepts a path for it.
    dash_duo.driver.find_element(By.CSS_SELECTOR, "#datasets-upload input[type=file]").send_keys(str(path))


def _watch_progress(dash_duo: Any) -> None:
    """Record whether the progress indicator was ever shown (it is brief for a small file)."""
    dash_duo.driver.execute_script(
        """
        const bar = document.getElementById('datasets-upload-progress');
        window.__progressShown = false;
        new MutationObserver(() => {
            if (!bar.classList.contains('d-none')) { window.__progressShown = true; }
        }).observe(bar, {attributes: true, attributeFilter: ['class']});
        """
    )


def _stored_files(runtime: Runtime) -> list[Path]:
    root = Path(runtime.settings.data_dir)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_ds001_valid_upload_is_stored_and_listed_with_pairs_and_tokens(
    signed_in_duo: Any, runtime: Runtime, user: dict[str, Any], tmp_path: Path
) -> None:
    other = make_user(runtime, "mallory@example.com")
    with runtime.transaction() as session:
        make_dataset(session, other, name="mallory-secret")
    records: list[Any] = [
        {"prompt": f"Question {i}?", "completion": f"Answer number {i}."} for i in range(120)
    ]
    path = _write_jsonl(tmp_path / "support-chats.jsonl", records)

    dash_duo = signed_in_duo
    _open(dash_duo)
    assert dash_duo.find_element("#datasets-empty").text.startswith("No datasets yet")
    assert "mallory-secret" not in dash_duo.driver.page_source
    _watch_progress(dash_duo)
    _upload(dash_duo, path)
    dash_duo.wait_for_element("#upload-result-ok", timeout=15)
    assert dash_duo.driver.execute_script("return window.__progressShown === true;")
    assert "d-none" in dash_duo.find_element("#datasets-upload-progress").get_attribute("class")
    assert dash_duo.find_element("#upload-pairs").text == "120"

    with runtime.transaction() as session:
        dataset = session.scalars(select(Dataset).where(Dataset.user_id == user["id"])).one()
        assert (dataset.name, dataset.total_training_pairs) == ("support-chats", 120)
        assert dataset.file_size == path.stat().st_size
        tokens = dataset.total_tokens
    assert dash_duo.find_element("#upload-tokens").text == f"~{tokens:,}"
    row = dash_duo.wait_for_element("#datasets-table tbody tr")
    assert "support-chats" in row.text
    assert "120" in row.text
    assert f"{tokens:,}" in row.text
    assert "Ready" in row.text
    assert len(_stored_files(runtime)) == 1
    assert unnamed_controls(dash_duo) == []
    save_screenshots(dash_duo, "datasets")

    # "Train" leads to the new-job form with this dataset chosen.
    with runtime.transaction() as session:
        dataset_id = session.scalars(select(Dataset.id).where(Dataset.user_id == user["id"])).one()
    dash_duo.find_element(f"#dataset-train-{dataset_id}").click()
    dash_duo.wait_for_element("#configure-estimate", timeout=10)
    assert dash_duo.driver.current_url.endswith(f"/training/configure?dataset={dataset_id}")
    assert dash_duo.get_logs() == []


def test_ds002_invalid_upload_shows_bad_lines_and_stores_nothing(
    signed_in_duo: Any, runtime: Runtime, tmp_path: Path
) -> None:
    path = _write_jsonl(
        tmp_path / "broken.jsonl",
        [
            {"prompt": "ok", "completion": "fine"},
            "{not json",
            {"prompt": "", "completion": "x"},
            {"question": "wrong keys"},
        ],
    )
    dash_duo = signed_in_duo
    _open(dash_duo)
    dash_duo.find_element("#datasets-name").send_keys("my broken set")
    _upload(dash_duo, path)
    error = dash_duo.wait_for_element("#upload-result-error", timeout=15)
    assert "nothing was stored" in error.text
    for line in ("line 2", "line 3", "line 4"):
        assert line in error.text.lower()
    with runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Dataset)) == 0
    assert _stored_files(runtime) == []
    assert dash_duo.find_element("#datasets-empty")  # the list is unchanged: still empty
    save_screenshots(dash_duo, "datasets-invalid")
    assert dash_duo.get_logs() == []


@pytest.fixture
def small_limit_app(settings: Settings, runtime: Runtime) -> Any:
    """MAX_UPLOAD_BYTES of 200 KB: the page's own limit is what fits after base64 (~102 KB)."""
    small = replace(settings, max_upload_bytes=200 * 1024)
    dash_app = create_app(small, runtime=replace(runtime, settings=small))
    dash_app.server.config["TESTING"] = True
    return dash_app


def test_ds005_too_large_file_is_refused_in_the_browser_with_the_limit(
    dash_duo: Any, small_limit_app: Any, user: dict[str, Any], runtime: Runtime, tmp_path: Path
) -> None:
    dash_duo.start_server(small_limit_app, navigate=False, port=free_port())
    sign_in_browser(dash_duo, user["email"], user["password"])
    line = {"prompt": "p" * 500, "completion": "c" * 500}
    path = _write_jsonl(tmp_path / "huge.jsonl", [line] * 150)  # ~150 KB
    _open(dash_duo)
    assert "up to 102.0 KB" in dash_duo.find_element("#datasets-upload").text
    _upload(dash_duo, path)
    message = dash_duo.wait_for_element("#upload-too-large", timeout=10).text
    size_kb = path.stat().st_size / 1024
    assert f"“huge.jsonl” is {size_kb:.1f} KB, over this page's limit of 102.0 KB" in message
    assert "Nothing was uploaded" in message
    with runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Dataset)) == 0
    assert "d-none" in dash_duo.find_element("#datasets-upload-progress").get_attribute("class")
    assert dash_duo.get_logs() == []


def _click_delete(dash_duo: Any, dataset_id: int) -> None:
    dash_duo.driver.find_element(By.XPATH, f"//*[@id='{dom_id(delete_button_id(dataset_id))}']").click()
    dash_duo.wait_for_element("#datasets-delete-confirm", timeout=10)
    WebDriverWait(dash_duo.driver, 10).until(
        lambda d: d.find_element(By.ID, "datasets-delete-confirm").is_displayed()
    )


def test_ds003_delete_is_refused_while_a_job_uses_the_dataset(
    signed_in_duo: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    with runtime.transaction() as session:
        used = make_dataset(session, user["id"], name="in-use")
        spare = make_dataset(session, user["id"], name="spare")
        make_job(session, user["id"], used.id, status=JobStatus.RUNNING)
        used_id, spare_id = used.id, spare.id
    dash_duo = signed_in_duo
    _open(dash_duo)

    _click_delete(dash_duo, used_id)
    assert "in-use" in dash_duo.find_element("#datasets-delete-body").text
    dash_duo.find_element("#datasets-delete-confirm").click()
    refused = dash_duo.wait_for_element("#datasets-delete-refused", timeout=10)
    assert "Dataset in use: “in-use” was not deleted." in refused.text
    assert "1 job(s) use this dataset (1 active)" in refused.text
    WebDriverWait(dash_duo.driver, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".modal.show"))
    save_screenshots(dash_duo, "datasets-delete-refused")

    _click_delete(dash_duo, spare_id)
    dash_duo.find_element("#datasets-delete-confirm").click()
    dash_duo.wait_for_contains_text("#datasets-deleted", "Deleted “spare”", timeout=10)
    table = dash_duo.find_element("#datasets-table").text
    assert "in-use" in table
    assert "spare" not in table
    with runtime.transaction() as session:
        assert session.scalars(select(Dataset.name)).all() == ["in-use"]
    assert dash_duo.get_logs() == []


def test_ds004_cancel_keeps_the_dataset(signed_in_duo: Any, runtime: Runtime, user: dict[str, Any]) -> None:
    with runtime.transaction() as session:
        dataset_id = make_dataset(session, user["id"], name="keep-me").id
    dash_duo = signed_in_duo
    _open(dash_duo)
    _click_delete(dash_duo, dataset_id)
    dash_duo.find_element("#datasets-delete-cancel").click()
    WebDriverWait(dash_duo.driver, 10).until(lambda d: not d.find_elements(By.ID, "datasets-delete-confirm"))
    with runtime.transaction() as session:
        assert session.scalars(select(Dataset.name)).all() == ["keep-me"]
    assert dash_duo.get_logs() == []
