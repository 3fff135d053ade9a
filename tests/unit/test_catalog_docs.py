"""The documents agree with the catalogues: GPU types (ids, prices, count), metric fields and bounds.

The tables and lists are generated between markers by `.ci/catalog_docs.py`; the first test is the
same check CI would run, the others read what a person or a client reads (the parsed OpenAPI
documents, the prices in the Markdown tables, the hand-written example of the job API's series).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from catalog.gpus import GPU_TYPES, MAX_GPU_COUNT
from catalog.metrics import api_series_names, contract_metrics
from tests.documents import catalog_docs

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _schemas(name: str) -> dict[str, Any]:
    return yaml.safe_load((DOCS / name).read_text())["components"]["schemas"]


def _table(markdown: str, first_header: str) -> list[list[str]]:
    """The body rows of the Markdown table whose header row starts with `first_header`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip().startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip().strip("|").split("|")])
    return rows


def test_every_generated_block_is_present_and_up_to_date() -> None:
    assert catalog_docs().stale_blocks() == [], "run: python .ci/catalog_docs.py"


def test_the_cluster_contract_offers_exactly_the_catalogued_gpu_types() -> None:
    gpu_config = _schemas("openapi.yaml")["SubmitRequest"]["properties"]["gpu_config"]["properties"]
    assert gpu_config["type"]["examples"] == list(GPU_TYPES)
    assert gpu_config["count"]["maximum"] == MAX_GPU_COUNT
    rows = _table((DOCS / "gpu-cluster-api.md").read_text(), "`gpu_config.type`")
    assert [(row[0], row[1]) for row in rows] == [(g.id, f"{g.memory_gb} GB") for g in GPU_TYPES.values()]


def test_the_job_api_accepts_exactly_the_catalogued_gpu_types_at_their_prices() -> None:
    gpu_config = _schemas("api-openapi.yaml")["GpuConfig"]["properties"]
    assert gpu_config["type"]["enum"] == list(GPU_TYPES)
    assert gpu_config["count"]["maximum"] == MAX_GPU_COUNT
    rows = _table((DOCS / "api.md").read_text(), "GPU type")
    prices = {row[0]: Decimal(row[1].removeprefix("$")) for row in rows}
    assert prices == {g.id: g.hourly_price for g in GPU_TYPES.values()}


def test_the_cluster_contract_carries_every_metric_with_its_bounds() -> None:
    schemas = _schemas("openapi.yaml")
    expected = {m.name: (m.low, m.high) for m in contract_metrics()}
    for schema in ("Metrics", "MetricsPoint"):
        properties = schemas[schema]["properties"]
        documented = {
            name: (spec.get("minimum"), spec.get("maximum"))
            for name, spec in properties.items()
            if name not in ("step", "epoch", "timestamp")
        }
        assert documented == expected, schema
    rows = _table((DOCS / "gpu-cluster-api.md").read_text(), "metric")
    assert [row[0] for row in rows] == list(expected)


def test_the_job_api_documents_exactly_the_catalogued_series() -> None:
    series = _schemas("api-openapi.yaml")["Metrics"]["properties"]["series"]
    assert series["required"] == list(api_series_names())
    api = (DOCS / "api.md").read_text()
    assert [row[0] for row in _table(api, "series")] == list(api_series_names())
    # The hand-written example of GET /api/jobs/<id> shows every series by name.
    example = api[api.index('"series": {') + len('"series": {') : api.index('"elapsed"')]
    assert re.findall(r'"(\w+)": \{', example) == list(api_series_names())
