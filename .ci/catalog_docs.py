"""Writes the catalogues' tables and lists into the documents, between marker comments.

`python .ci/catalog_docs.py` rewrites every block from catalog/; `--check` changes nothing and exits
1 naming each block that differs (tests/unit/test_catalog_docs.py runs the same check). A block is
every line between `<!-- catalog:NAME -->` and `<!-- /catalog:NAME -->` in Markdown, or between
`# catalog:NAME` and `# /catalog:NAME` in YAML, indented like its opening marker; the markers stay.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from catalog.gpus import GPU_TYPES, MAX_GPU_COUNT  # noqa: E402
from catalog.metrics import METRICS, Metric, contract_metrics  # noqa: E402
from services.costs import format_money  # noqa: E402

Render = Callable[[], list[str]]


def _number(value: float) -> str:
    return f"{value:g}"


def _range(metric: Metric) -> str:
    if metric.low is not None and metric.high is not None:
        return f"{_number(metric.low)}–{_number(metric.high)}"
    if metric.low is not None:
        return f"≥ {_number(metric.low)}"
    return "any" if metric.high is None else f"≤ {_number(metric.high)}"


def _count_line(field: str) -> str:
    return f"{field}: 1–{MAX_GPU_COUNT} GPUs of one type per job."


def api_gpu_types() -> list[str]:
    rows = [
        "| GPU type | price per GPU-hour | memory | bf16 | tokens/s per GPU (the estimate's) |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows += [
        f"| `{g.id}` | {format_money(g.hourly_price)} | {g.memory_gb} GB | {'yes' if g.bf16 else 'no'} "
        f"| {g.tokens_per_second:,.0f} |"
        for g in GPU_TYPES.values()
    ]
    return [*rows, "", _count_line("`gpu_config.count`")]


def api_metric_series() -> list[str]:
    rows = ["| series | unit | what |", "| --- | --- | --- |"]
    rows += [f"| `{m.name}` | {m.unit} | {m.description} |" for m in METRICS.values() if m.in_api]
    return rows


def contract_gpu_types() -> list[str]:
    rows = ["| `gpu_config.type` | memory | bf16 |", "| --- | --- | --- |"]
    rows += [f"| `{g.id}` | {g.memory_gb} GB | {'yes' if g.bf16 else 'no'} |" for g in GPU_TYPES.values()]
    return [*rows, "", _count_line("`count`")]


def contract_metrics_table() -> list[str]:
    rows = ["| metric | valid range | unit | what |", "| --- | --- | --- | --- |"]
    rows += [f"| `{m.name}` | {_range(m)} | {m.unit} | {m.description} |" for m in contract_metrics()]
    return rows


def openapi_gpu_config(keyword: str) -> Render:
    """The `type` and `count` properties of a gpu_config schema (`examples` or `enum` of the ids)."""

    def render() -> list[str]:
        return [
            f"type: {{type: string, {keyword}: [{', '.join(GPU_TYPES)}]}}",
            f"count: {{type: integer, minimum: 1, maximum: {MAX_GPU_COUNT}}}",
        ]

    return render


def openapi_metric_properties() -> list[str]:
    lines = []
    for m in contract_metrics():
        bounds = "".join(
            f", {word}: {_number(value)}"
            for word, value in (("minimum", m.low), ("maximum", m.high))
            if value is not None
        )
        lines.append(
            f'{m.name}: {{type: [number, "null"]{bounds}, description: {json.dumps(m.description)}}}'
        )
    return lines


def api_series_required() -> list[str]:
    return [f"required: [{', '.join(m.name for m in METRICS.values() if m.in_api)}]"]


def api_row_required() -> list[str]:
    """A metric row of GET /api/jobs/<id>: its step, epoch and time, then every API series."""
    return [f"required: [step, epoch, timestamp, {', '.join(m.name for m in METRICS.values() if m.in_api)}]"]


BLOCKS: dict[str, dict[str, Render]] = {
    "docs/api.md": {"gpu-types": api_gpu_types, "metric-series": api_metric_series},
    "docs/gpu-cluster-api.md": {"gpu-types": contract_gpu_types, "metrics": contract_metrics_table},
    "docs/openapi.yaml": {"gpu-config": openapi_gpu_config("examples"), "metrics": openapi_metric_properties},
    "docs/api-openapi.yaml": {
        "gpu-config": openapi_gpu_config("enum"),
        "series": api_series_required,
        "row-series": api_row_required,
    },
}


def _markers(path: str, name: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    if path.endswith(".md"):
        return re.compile(rf"^(\s*)<!-- catalog:{name}\b.*-->"), re.compile(rf"^\s*<!-- /catalog:{name} -->")
    return re.compile(rf"^(\s*)# catalog:{name}\b"), re.compile(rf"^\s*# /catalog:{name}\b")


def render_document(path: str, text: str) -> tuple[str, list[str]]:
    """`text` with every block of `path` re-rendered, and the problems (a block missing or unclosed)."""
    lines = text.split("\n")
    problems = []
    for name, render in BLOCKS[path].items():
        begin, end = _markers(path, name)
        found = 0
        i = 0
        while i < len(lines):
            opened = begin.search(lines[i])
            if not opened:
                i += 1
                continue
            close = next((j for j in range(i + 1, len(lines)) if end.search(lines[j])), None)
            if close is None:
                problems.append(f"{path}: block {name} is not closed")
                break
            indent = opened.group(1)
            body = [indent + line if line else line for line in render()]
            lines[i + 1 : close] = body
            i += len(body) + 2
            found += 1
        if not found:
            problems.append(f"{path}: block {name} is missing")
    return "\n".join(lines), problems


def stale_blocks(root: Path = ROOT) -> list[str]:
    """One line per document whose blocks differ from the catalogues (or per missing block)."""
    problems = []
    for path in BLOCKS:
        text = (root / path).read_text(encoding="utf-8")
        rendered, missing = render_document(path, text)
        problems += missing
        if rendered != text:
            problems.append(f"{path}: catalogue blocks are out of date")
    return problems


def main(argv: list[str]) -> int:
    if "--check" in argv:
        problems = stale_blocks()
        for problem in problems:
            print(problem)
        if problems:
            print("run: python .ci/catalog_docs.py  (rewrites the blocks from catalog/)")
        return 1 if problems else 0
    for path in BLOCKS:
        file = ROOT / path
        rendered, problems = render_document(path, file.read_text(encoding="utf-8"))
        for problem in problems:
            print(problem)
        file.write_text(rendered, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
