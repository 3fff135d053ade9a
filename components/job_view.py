"""Pure Dash/dbc builders for the job monitor's Configuration tab (the status badge lives in
``components.job_status``, the Activity Log in ``components.activity_log``).

No callbacks and no data access: each function takes plain values and returns components, so
the page callback stays thin and every piece is unit-tested. Colours come from Bootstrap's
semantic classes (``text-body-secondary``, ``bg-body-tertiary``) so light and dark themes both
read well; the few extra rules live in ``assets/monitor.css``.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from catalog.health_checks import HEALTH_CHECKS
from components.formatters import (
    MISSING,
    parse_money,
)
from services.costs import format_money


def _display(value: Any) -> str:
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(_display(v) for v in value)
    return str(value)


def _humanize(key: str) -> str:
    return key.replace("_", " ").strip().capitalize()


def _section(title: str, rows: list[tuple[str, Any]]) -> list[html.Tr]:
    out = [html.Tr(html.Th(title, colSpan=2, className="config-table__section bg-body-tertiary"))]
    out += [html.Tr([html.Th(label, scope="row"), html.Td(_display(value))]) for label, value in rows]
    return out


def config_table(job: dict[str, Any], dataset: dict[str, Any] | None) -> dbc.Table:
    """Every setting the job ran with: run (base model, preset, GPUs, budget), all hyperparameters,
    dataset.

    ``job`` uses the API's job keys (``base_model`` as its hub id, ``preset_id``, ``hyperparameters``, ``gpu_config``,
    ``total_epochs``, ``total_steps``, ``budget_limit``, ``estimated_total_cost``); money values
    may arrive as Decimal or as the API's decimal strings. Unknown hyperparameters are listed
    too, sorted by name, because "which settings did this run use" must have a complete answer.
    """
    gpu = dict(job.get("gpu_config") or {})
    gpu_type = gpu.pop("gpu_type", None) or gpu.pop("type", None)
    gpu_count = gpu.pop("gpu_count", None) or gpu.pop("count", None)
    run = [
        ("Base model", job.get("base_model")),
        ("Preset", job.get("preset_id")),
        ("GPU type", gpu_type),
        ("GPU count", gpu_count),
        *((_humanize(k), v) for k, v in sorted(gpu.items())),
        ("Epochs", job.get("total_epochs")),
        ("Total steps", job.get("total_steps")),
        ("Estimated cost", _money_text(job.get("estimated_total_cost"))),
        ("Budget limit", _money_text(job.get("budget_limit"))),
    ]
    hyper = sorted((job.get("hyperparameters") or {}).items())
    rows = _section("Run", run) + _section("Hyperparameters", [(_humanize(k), v) for k, v in hyper])
    if isinstance(job.get("health_checks"), dict):
        rows += _section("Health checks", health_rows(job["health_checks"]))
    if dataset:
        rows += _section(
            "Dataset",
            [
                ("Name", dataset.get("name")),
                ("Format", dataset.get("format")),
                ("Training pairs", dataset.get("total_training_pairs")),
                ("Tokens", dataset.get("total_tokens")),
            ],
        )
    return dbc.Table(html.Tbody(rows), size="sm", borderless=True, className="config-table mb-0")


def health_rows(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """One row per catalogued check: its action, then its thresholds (`factor 3 · steps 3`)."""
    rows = []
    for check in HEALTH_CHECKS:
        values = settings.get(check.id)
        if not isinstance(values, dict):
            continue
        parts = [str(values.get("action", check.default_action))]
        parts += [f"{p.name.replace('_', ' ')} {_display(values.get(p.name))}" for p in check.parameters]
        rows.append((check.title, " · ".join(parts)))
    return rows


def _money_text(value: Any) -> str | None:
    if value is None:
        return None
    amount = parse_money(value)
    return format_money(amount) if amount is not None else str(value)
