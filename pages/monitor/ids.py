"""Component ids of the job monitor page, in one place (STYLE.md rule 2).

Prefixed ``mon-`` because Dash validates all pages' layouts together: ids must be unique app-wide.
"""

from __future__ import annotations

JOB_ID = "mon-job-id"  # dcc.Store: the job id from the URL
CHART_STATE = "mon-chart-state"  # dcc.Store: LiveChartState without its options (they change per render)
CHART_OPTIONS = "mon-chart-opts"  # dcc.Store: LiveChartState["options"], written by the full render only
ETA_FROM = "mon-eta-from"  # dcc.Store: first step of the ETA window (a tick re-reads from there)
VIEW_STATE = "mon-view-state"  # dcc.Store: {status, events_seen} to send only what changed
CHART_PATCH = "mon-patch"  # dcc.Store: a tick's figure patches, packed (assets/monitor_patch.js applies them)
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

# The parts a tick rewrites get short ids: each id is repeated in every tick response (5 KB budget).
PROGRESS_BAR = "mon-pbar"  # dbc.Progress (value, label; colour/stripes on status change)
PROGRESS_EPOCH = "mon-pep"  # "Epoch x / y"
PROGRESS_STEP = "mon-pst"  # "Step a / b"

# Card slots: value and detail text per card, keyed like components.monitor_numbers.MonitorNumbers.
CARDS: dict[str, str] = {
    "training_loss": "mon-tl",
    "validation_loss": "mon-vl",
    "throughput": "mon-tp",
    "cost": "mon-co",
    "eta": "mon-eta",
}


# Cards whose detail line changes while the job runs (the others have a fixed caption).
LIVE_DETAILS = ("validation_loss", "throughput", "cost", "eta")


def card_value(name: str) -> str:
    return CARDS[name]


def card_detail(name: str) -> str:
    return f"{CARDS[name]}-d"
