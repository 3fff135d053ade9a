"""Text, numbers and times a cluster or trainer sends are made storable and plausible before use
(contract/parsing.py, services/plausibility.py): issue 14, items 2 and 3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contract.parsing import MAX_STAGE, clean_text, parse_status_report
from contract.results import ClusterMalformed, MetricsPoint
from jobs.cluster_answers import RetryableFailure, interpret_answer
from services.plausibility import billed_window, plausible_points, plausible_step_limit

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("train\x00ing", "training"),
        ("a\ud800b\udfffc", "abc"),
        ("bell\x07 esc\x1b del\x7f c1\x9f", "bell esc del c1"),
        ("keeps\ttabs\nand\r\nnewlines", "keeps\ttabs\nand\r\nnewlines"),
        ("ünïcødé ✓ 训练", "ünïcødé ✓ 训练"),
    ],
)
def test_clean_text_removes_what_postgresql_or_a_reader_cannot_take(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
    clean_text(raw).encode("utf-8")  # no lone surrogate left


def test_a_report_s_text_is_cleaned_and_cut_with_a_note() -> None:
    report = parse_status_report(
        {"status": "failed", "stage": "s\x00" * 300, "error": "e\ud800" * 3_000, "progress": [[[]]]},
        "ext-1",
        None,
    )
    assert report.stage == "s" * MAX_STAGE
    assert report.error == "e" * 2_000
    assert report.progress is None
    assert any(n.startswith("stage: cut to 100") for n in report.notes)
    assert any("<list>" in n for n in report.notes)  # a container is named, never repr'd


def test_huge_integers_and_overflowing_timestamps_are_dropped_with_notes() -> None:
    report = parse_status_report(
        {
            "status": "running",
            "current_step": 10**3_999,
            "stage": 10**3_999,
            "started_at": "9999-12-31T23:59:59-14:00",
            "finished_at": "0001-01-01T00:00:00+14:00",
        },
        "ext-1",
        None,
    )
    assert (report.current_step, report.stage, report.started_at, report.finished_at) == (None,) * 4
    assert any("digits" in n for n in report.notes)


def test_json_nested_past_the_recursion_limit_is_a_malformed_answer() -> None:
    with pytest.raises(RetryableFailure) as caught:
        interpret_answer("GET /x", 200, None, b"[" * 100_000 + b"]" * 100_000, secret="")
    assert isinstance(caught.value.error, ClusterMalformed)


def test_points_past_twice_the_length_are_refused_and_far_timestamps_replaced() -> None:
    notes: list[str] = []
    assert plausible_step_limit(480) == 1_060
    points = (
        MetricsPoint(5, None, NOW - timedelta(days=3650), training_loss=1.0),
        MetricsPoint(6, None, NOW, training_loss=1.0),
        MetricsPoint(100_000_000, None, None, training_loss=0.1),
    )
    kept = plausible_points(points, step_limit=1_060, earliest=NOW - SKEW, latest=NOW + SKEW, notes=notes)
    assert [p.step for p in kept] == [5, 6]
    assert [p.timestamp for p in kept] == [None, NOW]
    assert len(notes) == 2


def test_billed_window_clamps_a_century_to_submit_until_now() -> None:
    submitted = NOW - timedelta(minutes=11)
    window = billed_window(
        submitted_at=submitted,
        our_start=submitted + timedelta(minutes=1),
        reported_start=datetime(2000, 1, 1, tzinfo=UTC),
        reported_finish=datetime(2100, 1, 1, tzinfo=UTC),
        now=NOW,
        clock_skew=SKEW,
    )
    assert (window.started_at, window.finished_at) == (submitted, NOW)
    assert set(window.corrections) == {"started_at", "finished_at"}


def test_billed_window_believes_plausible_cluster_times() -> None:
    start, finish = NOW - timedelta(minutes=9), NOW + timedelta(minutes=4)  # within the skew
    window = billed_window(
        submitted_at=NOW - timedelta(minutes=10),
        our_start=NOW - timedelta(minutes=10),
        reported_start=start,
        reported_finish=finish,
        now=NOW,
        clock_skew=SKEW,
    )
    assert (window.started_at, window.finished_at, window.corrections) == (start, finish, {})
