"""The jobs list table: a row per job linking to its monitor, badge, cost text, status filter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dash import dcc, html

from components.jobs_table import cost_text, job_row, jobs_table, statuses_for_filter
from tests.component_tree import walk

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
JOB_ID = "0b7e4f7a-1111-4222-8333-944445555666"


def _job(**overrides: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": JOB_ID,
        "name": None,
        "dataset_name": "support-chats",
        "status": "running",
        "progress": 42.4,
        "gpu_config": {"type": "A100-80GB", "count": 2},
        "current_cost": "0.4200",
        "final_cost": None,
        "estimated_total_cost": "1.2000",
        "created_at": "2026-11-29T11:55:00+00:00",
    }
    job.update(overrides)
    return job


def test_row_links_to_the_monitor_and_shows_what_matters() -> None:
    row = job_row(_job(), NOW)
    links = [c for c in walk(row) if isinstance(c, dcc.Link)]
    assert [link.to_plotly_json()["props"]["href"] for link in links] == [f"/training/jobs/{JOB_ID}"]
    assert links[0].children == "support-chats"
    texts = [c.children for c in walk(row) if isinstance(getattr(c, "children", None), str)]
    assert "2× A100-80GB" in texts
    assert "$0.42 / $1.20" in texts
    assert "42%" in texts
    assert "5 min ago" in texts


def test_cost_text_uses_final_cost_once_terminal() -> None:
    assert cost_text(_job(status="completed", final_cost="1.1000", current_cost="1.1000")) == "$1.10 / $1.20"
    assert cost_text(_job(estimated_total_cost=None)) == "$0.42"


def test_empty_list_offers_to_configure_a_job() -> None:
    empty = jobs_table([], NOW)
    assert isinstance(empty, html.Div)
    assert any(
        isinstance(c, dcc.Link) and c.to_plotly_json()["props"]["href"] == "/training/configure"
        for c in walk(empty)
    )


def test_status_filter_values() -> None:
    assert statuses_for_filter("all") == []
    assert statuses_for_filter(None) == []
    assert statuses_for_filter("active") == ["queued", "initializing", "running"]
    assert statuses_for_filter("failed") == ["failed"]


def test_the_model_column_names_the_base_model_with_its_hub_id_on_hover() -> None:
    row = job_row(_job(base_model="google/gemma-2-2b"), NOW)
    (cell,) = [c for c in walk(row) if isinstance(c, html.Td) and c.children == "Gemma 2 2B"]
    assert cell.to_plotly_json()["props"]["title"] == "google/gemma-2-2b"
    # an id the catalogue no longer offers is shown as stored, never dropped
    texts = [
        c.children for c in walk(job_row(_job(base_model="retired/model-1b"), NOW)) if isinstance(c, html.Td)
    ]
    assert "retired/model-1b" in texts
    head = [c.children for c in walk(jobs_table([_job()], NOW)) if isinstance(c, html.Th)]
    assert head[head.index("Model") + 1] == "GPU"


def test_a_row_digest_follows_what_the_row_shows_and_nothing_else() -> None:
    from components.jobs_table import ROW_FIELDS, row_digest

    job = _job()
    assert row_digest(job) == row_digest(dict(job))
    assert row_digest({**job, "updated_at": "2026-11-29T12:00:00+00:00"}) == row_digest(job)
    for field in ROW_FIELDS:  # every field the row draws moves the digest
        assert row_digest({**job, field: "changed"}) != row_digest(job), field
