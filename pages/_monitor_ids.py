"""Component ids of the job monitor page, in one place (STYLE.md rule 2).

Prefixed ``mon-`` because Dash validates all pages' layouts together: ids must be unique app-wide.
"""

from __future__ import annotations

JOB_ID = "mon-job-id"  # dcc.Store: the job id from the URL
CHART_STATE = "mon-chart-state"  # dcc.Store: components.live_charts.LiveChartState
RATE_WINDOW = "mon-rate-window"  # dcc.Store: recent [step, seconds] pairs for the ETA
VIEW_STATE = "mon-view-state"  # dcc.Store: {status, events_seen} to send only what changed
INTERVAL = "mon-interval"

LOADING = "mon-loading"
NOT_FOUND = "mon-not-found"
BODY = "mon-body"

BACK = "mon-back"
TITLE = "mon-title"
SUBTITLE = "mon-subtitle"
BADGE = "mon-badge"
CANCEL_WRAP = "mon-cancel-wrap"
CANCEL_OPEN = "mon-cancel-open"
CANCEL_MODAL = "mon-cancel-modal"
CANCEL_CONFIRM = "mon-cancel-confirm"
CANCEL_DISMISS = "mon-cancel-dismiss"
CANCEL_RESULT = "mon-cancel-result"
PROGRESS = "mon-progress"

TABS = "mon-tabs"
TAB_LOSS = "tab-loss"
TAB_CONFIG = "tab-config"
TAB_ACTIVITY = "tab-activity"
CONFIG = "mon-config"
ACTIVITY = "mon-activity"

LOSS_GRAPH = "mon-loss-graph"
PANELS_GRAPH = "mon-panels-graph"
SMOOTHING = "mon-smoothing"
Y_SCALE = "mon-y-scale"
X_AXIS = "mon-x-axis"

# Card slots: f"{CARD_PREFIX}{name}-value" / "-detail", name from CARDS.
CARD_PREFIX = "mon-card-"
CARDS = ("training_loss", "validation_loss", "throughput", "cost", "eta")


def card_value(name: str) -> str:
    return f"{CARD_PREFIX}{name}-value"


def card_detail(name: str) -> str:
    return f"{CARD_PREFIX}{name}-detail"
