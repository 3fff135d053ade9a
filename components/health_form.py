"""The configure page's advanced (collapsed) section: each run-health check's action and thresholds.

Built from catalog/health_checks.py through components/job_form.HEALTH_FIELDS, so the page, the API's
validation and the processor read one definition; a threshold left empty keeps its default (shown
as the placeholder), and the service's message for a bad one lands under its field.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from catalog.health_checks import (
    ACTIONS,
    HEALTH_CHECKS,
    HealthCheck,
    default_settings,
    resolved_health_config,
)
from components.job_form import HEALTH_FIELDS, FieldSpec, field_id, labelled_field, number_input

HEALTH_SECTION = "configure-health"
_ACTION_LABELS = {"warn": "Warn", "stop": "Warn and stop the job", "off": "Off"}


def _check_row(check: HealthCheck, fields: dict[str, FieldSpec], chosen: dict[str, Any]) -> html.Div:
    defaults = default_settings(check)
    action_spec = fields[f"health_{check.id}_action"]
    action = dbc.Select(
        id=field_id(action_spec.name),
        options=[{"label": _ACTION_LABELS[a], "value": a} for a in ACTIONS],
        value=chosen["action"],
        name=action_spec.name,
    )
    columns = [labelled_field(action_spec, action, md=4)]
    for parameter in check.parameters:
        spec = fields[f"health_{check.id}_{parameter.name}"]
        default = defaults[parameter.name]
        value = None if chosen[parameter.name] == default else chosen[parameter.name]  # empty: the default
        columns.append(labelled_field(spec, number_input(spec, value, default), xs=6, md=4))
    return html.Div(
        [
            html.H3(check.title, className="h6 mb-1"),
            html.P(check.description.replace("`", ""), className="small text-body-secondary mb-2"),
            dbc.Row(columns),
        ],
        className="health-check-settings border-bottom mb-3",
    )


def health_card(settings: Any = None) -> dbc.Accordion:
    """Collapsed by default: most runs keep the defaults. `settings`: a job's stored health checks,
    when the page clones one (Clone, Retry), so its actions and thresholds come along."""
    fields = {spec.name: spec for spec in HEALTH_FIELDS}
    chosen = resolved_health_config(settings)
    return dbc.Accordion(
        dbc.AccordionItem(
            [
                html.P(
                    "Checks run on every point the cluster reports. Each warns once on the monitor and in "
                    "your notifications; choose “stop” to also stop the job when it fires.",
                    className="small",
                ),
                *(_check_row(check, fields, chosen[check.id]) for check in HEALTH_CHECKS),
            ],
            title="Advanced: run health checks",
        ),
        id=HEALTH_SECTION,
        start_collapsed=True,
        className="mb-3",
    )
