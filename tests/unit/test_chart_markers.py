"""Lifecycle markers: which events mark the loss chart, where, with what hover text; the
contract's optional `checkpoints` list; and the tick sending markers only when the log changed."""

from __future__ import annotations

from typing import Any

from components.activity_log import event_sentence
from components.chart_markers import EVENT_KINDS, MARKER_KINDS, MARKER_Y, event_markers, marker_key, marker_xy
from components.charts import loss_figure, loss_trace_index
from contract.parsing import parse_status_report
from services.downsample import build_metrics_payload

STARTED = "2026-12-01T10:00:00+00:00"
JOB: dict[str, Any] = {"id": "j", "current_step": 70, "started_at": STARTED}


def _event(i: int, kind: str, details: dict[str, Any], to_status: str | None = None) -> dict[str, Any]:
    at = f"2026-12-01T10:{i:02d}:00+00:00"
    return {"id": i, "at": at, "kind": kind, "to_status": to_status, "actor": "processor", "details": details}


EVENTS = [  # newest first, as the activity log reads them
    _event(9, "status_changed", {"reason": "cancelled by the user"}, to_status="cancelled"),
    _event(
        8,
        "health_warning",
        {
            "check": "loss_spike",
            "step": 60,
            "message": "Training loss exploded",
            "evidence": {},
            "action": "warn",
        },
    ),
    _event(7, "cluster_reconnected", {"step": 50, "silent_seconds": 65}),
    _event(6, "cluster_error", {"kind": "transient"}),
    _event(5, "checkpoint_saved", {"step": 40, "uri": "s3://x/40"}),
    _event(2, "checkpoint_saved", {"step": 20, "uri": "s3://x/20"}),
    _event(1, "health_warning", {"message": "no step given"}),
]


def test_each_event_kind_becomes_a_marker_at_its_step_oldest_first() -> None:
    markers = event_markers(EVENTS, JOB)
    assert set(markers) == set(EVENT_KINDS)
    assert [m["step"] for m in markers["checkpoint"]] == [20, 40]
    assert [m["step"] for m in markers["reconnect"]] == [50]
    assert "65 s" in markers["reconnect"][0]["text"]
    assert [(m["step"], m["text"]) for m in markers["health"]] == [(60, "Training loss exploded · step 60")]
    # a cancel carries no step: the job's, which nothing moves after a cancel
    assert [m["step"] for m in markers["cancel"]] == [70]


def test_markers_on_the_elapsed_axis_sit_at_their_event_time() -> None:
    data = marker_xy(event_markers(EVENTS, JOB)["checkpoint"], "elapsed", STARTED)
    assert data == {
        "x": [2.0, 5.0],
        "y": [MARKER_Y, MARKER_Y],
        "text": ["checkpoint saved · step 20", "checkpoint saved · step 40"],
    }


def test_loss_figure_draws_every_kind_and_hides_the_unticked_ones() -> None:
    rows = [
        (s, None, 1.0 / s, 2.0 / s if s % 10 == 0 else None, None, None, None, None) for s in range(1, 31)
    ]
    metrics = build_metrics_payload(rows, 1000, None)
    fig = loss_figure(
        metrics, smoothing=0.6, log_y=True, x_axis="step", steps_per_epoch=None,
        markers=event_markers(EVENTS, JOB), started_at=STARTED, shown_markers=["checkpoint"],
    )  # fmt: skip
    index = loss_trace_index()
    evaluation = fig.data[index[marker_key("evaluation")]]
    assert list(evaluation.x) == [10, 20, 30]  # the validation points, not a scan of all points
    assert evaluation.visible is False
    assert fig.data[index[marker_key("checkpoint")]].visible is True
    assert list(fig.data[index[marker_key("health")]].x) == [60]
    assert all(fig.data[index[marker_key(k)]].yaxis == "y2" for k in MARKER_KINDS)
    assert fig.layout.yaxis2.range == (0, 1)  # markers stay on the x-axis whatever the loss scale


def test_status_checkpoints_are_optional_and_bad_entries_are_dropped_with_a_note() -> None:
    body = {
        "status": "running",
        "checkpoints": [
            {"step": 40, "at": "2026-12-01T10:05:00Z", "uri": "s3://x/40"},
            {"step": 20},
            {"step": -1},
            "nope",
            {"step": 20, "uri": "dup"},
        ],
    }
    report = parse_status_report(body, "ext", None)
    assert [(c.step, c.uri) for c in report.checkpoints] == [(20, None), (40, "s3://x/40")]
    assert report.checkpoints[1].at is not None
    assert "checkpoints[2]: dropped, no valid step" in report.notes
    assert "checkpoints[3]: dropped, no valid step" in report.notes
    assert parse_status_report({"status": "running"}, "ext", None).checkpoints == ()
    assert parse_status_report({"status": "running", "checkpoints": 5}, "ext", None).notes == (
        "checkpoints: dropped, not a list",
    )


def test_the_activity_log_says_what_the_marker_events_mean() -> None:
    assert event_sentence(EVENTS[4], JOB) == "The cluster saved a checkpoint at step 40"
    assert (
        event_sentence(EVENTS[2], JOB)
        == "The cluster answers again after 65 s without a good answer (step 50)"
    )
