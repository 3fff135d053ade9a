"""Field-by-field validation of cluster answers: bad values are dropped with a note, good ones kept,
and only an unusable shape raises."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.metrics import metric_names
from contract.parsing import parse_history, parse_metrics, parse_status_report, parse_submit_result
from contract.results import ClusterJobStatus, ClusterMalformed


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("training_loss", float("nan")),
        ("training_loss", float("inf")),
        ("validation_loss", float("-inf")),
        ("training_loss", "0.5"),
        ("training_loss", -0.1),
        ("learning_rate", -1e-4),
        ("gradient_norm", -2.0),
        ("throughput", -5.0),
        ("gpu_utilization", 100.5),
        ("gpu_utilization", -1),
        ("throughput", True),
        ("training_loss", [1.0]),
    ],
)
def test_an_invalid_metric_is_dropped_with_a_note(name, value):
    notes: list[str] = []
    metrics = parse_metrics(
        {name: value, "gradient_norm" if name != "gradient_norm" else "throughput": 1.0}, notes
    )
    assert metrics[name] is None
    assert len(notes) == 1
    assert notes[0].startswith(f"metrics.{name}: dropped")
    assert len(metrics.as_dict()) == 1  # the valid neighbour survives


def test_valid_metrics_pass_through_including_the_edges():
    notes: list[str] = []
    raw = {"training_loss": 0, "gpu_utilization": 100, "learning_rate": 2e-4, "throughput": 12}
    metrics = parse_metrics(raw, notes)
    assert metrics.as_dict() == {
        "training_loss": 0.0,
        "gpu_utilization": 100.0,
        "learning_rate": 2e-4,
        "throughput": 12.0,
    }
    assert notes == []


# Slow first draws happen on a shared 2-core machine; the property is what matters here.
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(metric_names()), st.none() | st.floats() | st.integers() | st.text(max_size=3)
    )
)
def test_no_metric_that_gets_through_is_impossible(raw):
    metrics = parse_metrics(raw, [])
    for name, value in metrics.as_dict().items():
        assert math.isfinite(value)
        assert value >= 0
        if name == "gpu_utilization":
            assert value <= 100


def test_history_is_filtered_sorted_and_deduplicated():
    notes: list[str] = []
    raw = [
        {"step": 7, "training_loss": 1.0},
        {"step": 5, "training_loss": 2.0},
        {"step": 3, "training_loss": 3.0},  # not after since_step
        {"step": 7, "training_loss": 9.0},  # duplicate: the first wins
        {"step": "8"},
        {"step": -1},
        {"step": 6.5},
        "junk",
        {"step": 6.0, "epoch": 1, "timestamp": "2026-11-29T05:00:00Z"},
    ]
    points = parse_history(raw, notes, since_step=4)
    assert [p.step for p in points] == [5, 6, 7]
    assert points[2]["training_loss"] == 1.0
    assert points[1].timestamp == datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
    assert len(notes) == 7  # 3 bad steps (each: value + "no valid step") + "junk"


def test_a_full_status_report_is_typed():
    body = {
        "status": "completed",
        "stage": "completed",
        "progress": 100,
        "current_epoch": 3,
        "current_step": 15,
        "total_steps": 15,
        "metrics": {"training_loss": 0.7},
        "error": None,
        "started_at": "2026-11-29T05:00:00+00:00",
        "finished_at": "2026-11-29T06:00:00",
        "artifact": {"uri": "s3://a/b", "size_bytes": 1024, "checksum": "sha256:00"},
    }
    report = parse_status_report(body, "ext-1", None)
    assert report.status is ClusterJobStatus.COMPLETED
    assert report.is_terminal
    assert report.finished_at == datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # naive = UTC
    assert report.artifact is not None
    assert report.artifact.size_bytes == 1024
    assert report.metrics_history == ()
    assert report.notes == ()


def test_bad_scalar_fields_are_dropped_and_noted():
    body = {
        "status": "running",
        "progress": 101,
        "current_step": 2.5,
        "total_steps": -1,
        "started_at": "yesterday",
    }
    report = parse_status_report(body, "ext", None)
    assert (report.progress, report.current_step, report.total_steps, report.started_at) == (
        None,
        None,
        None,
        None,
    )
    assert len(report.notes) == 4


@pytest.mark.parametrize("body", [[], "running", None, {"status": "exploded"}, {"progress": 5}])
def test_an_unusable_status_body_is_malformed(body):
    with pytest.raises(ClusterMalformed):
        parse_status_report(body, "ext", None)


@pytest.mark.parametrize("body", [{}, {"external_job_id": ""}, {"external_job_id": 7}, [], None])
def test_a_submit_answer_without_an_external_id_is_malformed(body):
    with pytest.raises(ClusterMalformed):
        parse_submit_result(body)


def test_a_submit_answer_with_an_unknown_status_keeps_the_id():
    result = parse_submit_result({"external_job_id": "x", "status": "warming"})
    assert result.external_job_id == "x"
    assert result.status is None
    assert result.notes


def test_history_included_tells_no_history_from_no_new_points():
    assert parse_status_report({"status": "running", "metrics_history": []}, "e", 5).history_included
    assert not parse_status_report({"status": "running"}, "e", 5).history_included
    assert not parse_status_report({"status": "running", "metrics_history": "x"}, "e", 5).history_included
