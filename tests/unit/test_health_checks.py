"""The health checks' defaults against the simulator's normal curves (no firing) and against each
pathology the simulator can inject (its check fires, once)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from catalog.health_checks import HEALTH_CHECKS, default_health_config
from services.health import evaluate
from simulator import curves
from simulator.pathologies import PATHOLOGIES, apply_pathology

SHAPES = [  # (total_steps, steps_per_epoch, epochs): tiny, test-sized and long runs
    (8, 8, 1),
    (24, 8, 3),
    (39, 13, 3),
    (120, 40, 3),
    (480, 8, 60),
    (2000, 400, 5),
]


def run(total: int, per_epoch: int, epochs: int, seed: str, pathology: str | None = None, batch: int = 1):
    shape = curves.make_shape(
        seed,
        total_steps=total,
        steps_per_epoch=per_epoch,
        epochs=epochs,
        batch_size=8,
        lr=2e-4,
        gpu_type="A100-80GB",
        gpu_count=2,
    )
    config = default_health_config()
    state: dict = {}
    firings = []
    points = [apply_pathology(pathology, shape, curves.point(shape, step)) for step in range(1, total + 1)]
    for start in range(0, len(points), batch):
        chunk = points[start : start + batch]
        non_finite: dict[str, int] = {}
        clean = []
        for point in chunk:
            values = dict(point)
            for metric in ("training_loss", "validation_loss"):
                value = values.get(metric)
                if isinstance(value, float) and not math.isfinite(value):
                    non_finite.setdefault(metric, point["step"])
                    values[metric] = None
            clean.append(values)
        firings += evaluate(config, state, clean, total_steps=total, non_finite=non_finite)
    return firings


@pytest.mark.parametrize(("total", "per_epoch", "epochs"), SHAPES)
def test_no_check_fires_on_normal_simulated_runs(total: int, per_epoch: int, epochs: int) -> None:
    fired = {f"job-{n}": run(total, per_epoch, epochs, f"job-{n}") for n in range(25)}
    assert {seed: [f.check for f in firings] for seed, firings in fired.items() if firings} == {}


@pytest.mark.parametrize("pathology", sorted(PATHOLOGIES))
def test_each_pathology_fires_its_own_check_first(pathology: str) -> None:
    for n in range(5):
        firings = run(480, 8, 60, f"sick-{n}", pathology, batch=7)
        checks = [f.check for f in firings]
        # Its own check first, once; a consequence may follow (a loss stuck high is also a plateau).
        assert checks[:1] == [PATHOLOGIES[pathology]], (n, checks)
        assert checks.count(checks[0]) == 1
        assert firings[0].evidence
        assert firings[0].message.endswith(".")


def test_every_check_has_a_pathology() -> None:
    assert sorted(PATHOLOGIES.values()) == sorted(check.id for check in HEALTH_CHECKS)


def test_the_same_points_twice_count_once() -> None:
    config = default_health_config()
    state: dict = {}
    points = [{"step": s, "training_loss": 1.0 if s < 20 else 9.0} for s in range(1, 30)]
    assert [f.check for f in evaluate(config, state, points[:20], total_steps=1000)] == []
    assert [f.check for f in evaluate(config, state, points[:20], total_steps=1000)] == []
    assert [f.check for f in evaluate(config, state, points, total_steps=1000)] == ["exploding_loss"]
    assert evaluate(config, state, [{"step": 40, "training_loss": 50.0}], total_steps=1000) == []


def test_off_never_fires() -> None:
    config = default_health_config()
    config["exploding_loss"]["action"] = "off"
    points = [{"step": s, "training_loss": 1.0 if s < 20 else 9.0} for s in range(1, 30)]
    assert evaluate(config, {}, points, total_steps=1000) == []


def test_docs_api_lists_every_check_with_its_defaults() -> None:
    text = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    for check in HEALTH_CHECKS:
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{check.id}` |")]
        for parameter in check.parameters:
            assert f"`{parameter.name}` {parameter.default:g} (" in row, (check.id, parameter.name)
