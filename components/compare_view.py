"""Pure builders of the comparison page: the overlaid loss chart, the settings table with the
differences highlighted, and the outcome table. Data in (services/job_compare.py), components out.

The chart reuses the monitor's pieces (components/charts.py, components/smoothing.py): the same
EMA, the same hover text and layout; only the overlay (one colour per job) is its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from components.charts import (
    RAW_OPACITY_BEHIND_SMOOTHED,
    base_layout,
    dense_mode,
    format_clock,
    interpolate_elapsed,
    rounded,
)
from components.formatters import MISSING, format_duration, parse_money
from components.job_status import status_badge
from components.smoothing import ema
from services.costs import format_money

CompareAxis = Literal["step", "progress", "elapsed"]
X_AXIS_CHOICES: list[tuple[str, str]] = [
    ("Step", "step"),
    ("Progress %", "progress"),
    ("Elapsed time", "elapsed"),
]
# Plotly's qualitative "D3" palette: ten colours a reader tells apart, one per compared job.
JOB_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_X_TITLES = {"step": "step", "progress": "progress (% of total steps)", "elapsed": "elapsed (min)"}


def job_label(job: Mapping[str, Any], index: int) -> str:
    """``#1 name`` (or the id's first 8 characters): short enough for a legend and a table head."""
    return f"#{index + 1} {job.get('name') or str(job['id'])[:8]}"


def _xs(
    entry: Mapping[str, Any], steps: Sequence[int], x_axis: CompareAxis
) -> tuple[list[Any], list[list[Any]]]:
    elapsed = entry["elapsed"]
    seconds = interpolate_elapsed(steps, elapsed["step"], elapsed["seconds"])
    total = entry["job"].get("total_steps") or 0
    custom = [[s, "" if t is None else format_clock(t)] for s, t in zip(steps, seconds, strict=True)]
    if x_axis == "elapsed":
        return [None if t is None else round(t / 60.0, 4) for t in seconds], custom
    if x_axis == "progress":
        return [round(100.0 * s / total, 3) if total else None for s in steps], custom
    return list(steps), custom


def _hover(label: str) -> str:
    return f"<b>{label}</b><br>step %{{customdata[0]:,}}<br>elapsed %{{customdata[1]}}<br>loss %{{y:.4g}}<extra></extra>"


def compare_figure(
    entries: Sequence[Mapping[str, Any]], *, smoothing: float, log_y: bool, x_axis: CompareAxis, dark: bool
) -> go.Figure:
    """Training loss (smoothed as on the monitor, raw faint behind) and validation loss (dotted,
    as measured) of every job, one colour per job, on one x-axis kind."""
    fig = go.Figure()
    for index, entry in enumerate(entries):
        color = JOB_COLORS[index % len(JOB_COLORS)]
        label = job_label(entry["job"], index)
        train = entry["series"]["training_loss"]
        xs, custom = _xs(entry, train["step"], x_axis)
        smoothed = smoothing > 0 and len(train["value"]) > 1
        common = {"legendgroup": label, "line": {"color": color}}
        if smoothed:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=train["value"],
                    customdata=custom,
                    mode="lines",
                    opacity=RAW_OPACITY_BEHIND_SMOOTHED,
                    showlegend=False,
                    hovertemplate=_hover(f"{label} training (raw)"),
                    **common,
                )
            )
        values = rounded(ema(train["value"], smoothing, train["step"])) if smoothed else train["value"]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=values,
                customdata=custom,
                mode=dense_mode(len(values)),
                name=f"{label} training",
                hovertemplate=_hover(f"{label} training"),
                **common,
            )
        )
        val = entry["series"]["validation_loss"]
        vxs, vcustom = _xs(entry, val["step"], x_axis)
        fig.add_trace(
            go.Scatter(
                x=vxs,
                y=val["value"],
                customdata=vcustom,
                mode="lines+markers",
                name=f"{label} validation",
                line={"color": color, "dash": "dot"},
                marker={"size": 6, "symbol": "diamond"},
                legendgroup=label,
                hovertemplate=_hover(f"{label} validation"),
            )
        )
    base_layout(fig, dark=dark, uirevision="compare")
    fig.update_xaxes(title_text=_X_TITLES[x_axis], uirevision=x_axis)
    fig.update_yaxes(title_text="loss", type="log" if log_y else "linear", uirevision=f"log={log_y}")
    return fig


def _value_text(value: Any) -> str:
    return MISSING if value is None else str(value)


def settings_table(entries: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]]) -> dbc.Table:
    """One column per job, one row per setting; a row whose values differ is highlighted."""
    head = html.Thead(
        html.Tr(
            [html.Th("Setting", scope="col")]
            + [html.Th(job_label(e["job"], i), scope="col") for i, e in enumerate(entries)]
        )
    )
    body = [
        html.Tr(
            [html.Th(row["name"], scope="row")] + [html.Td(_value_text(v)) for v in row["values"]],
            className="compare-differs table-warning" if row["differs"] else None,
            title="differs between the jobs" if row["differs"] else None,
        )
        for row in rows
    ]
    return dbc.Table([head, html.Tbody(body)], size="sm", responsive=True, className="compare-settings mb-0")


def price_text(value: float | None) -> str:
    """Money that can be far below a cent (cost per 1 % of improvement): 4 significant digits."""
    if value is None:
        return MISSING
    return format_money(parse_money(value)) if value >= 1 else f"${value:.4g}"


def _loss(value: float | None) -> str:
    return MISSING if value is None else f"{value:.4f}"


def outcome_table(entries: Sequence[Mapping[str, Any]]) -> dbc.Table:
    """Per job: status, final and best validation loss, cost, duration, improvement and its price."""
    head = html.Thead(
        html.Tr(
            [
                html.Th(t, scope="col")
                for t in (
                    "Job",
                    "Status",
                    "Final val. loss",
                    "Best val. loss",
                    "Cost",
                    "Duration",
                    "Train loss drop",
                    "Cost per 1 %",
                )
            ]
        )
    )
    rows = []
    for index, entry in enumerate(entries):
        job, out = entry["job"], entry["outcome"]
        color = JOB_COLORS[index % len(JOB_COLORS)]
        duration = out["duration_seconds"]
        rows.append(
            html.Tr(
                [
                    html.Td(
                        [
                            html.Span("■ ", style={"color": color}),
                            dcc.Link(job_label(job, index), href=f"/training/jobs/{job['id']}"),
                        ]
                    ),
                    html.Td(status_badge(job["status"])),
                    html.Td(_loss(out["final_validation_loss"])),
                    html.Td(_loss(out["best_validation_loss"])),
                    html.Td(format_money(parse_money(out["cost"]))),
                    html.Td(format_duration(duration)),
                    html.Td(MISSING if out["improvement_pct"] is None else f"{out['improvement_pct']:.1f} %"),
                    html.Td(price_text(out["cost_per_improvement_pct"])),
                ],
                **{"data-job-id": job["id"]},
            )
        )
    return dbc.Table([head, html.Tbody(rows)], size="sm", responsive=True, className="compare-outcomes mb-0")
