"""The GPU and metric catalogues: their own rules, and the parts that cannot derive from them
(the typed MetricPoint model, the presets) agreeing with them."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest
from sqlalchemy import Float

from catalog.gpus import GPU_TYPES, MAX_GPU_COUNT, GpuType, find_gpu_type, valid_gpu_count
from catalog.metrics import POINT_FIELDS, Metric, api_series_names, metric_names
from contract.parsing import parse_metrics
from contract.results import ClusterMetrics, MetricsPoint
from db.metric_rollups import ROW_COLUMNS, series_columns
from db.models import MetricPoint, MetricRollup
from services.job_config import PRESETS


def test_the_metric_point_model_has_one_float_column_per_catalogued_metric() -> None:
    """db/models.py keeps typed columns by hand: this fails until a new metric's column (and, through
    tests/integration/test_migrations.py, its migration) is written."""
    table = MetricPoint.__table__
    metric_columns = [column for column in table.columns if column.name not in POINT_FIELDS]
    assert [column.name for column in metric_columns] == list(metric_names())
    assert all(isinstance(column.type, Float) and column.nullable for column in metric_columns)


def test_the_rollup_model_has_five_columns_per_api_series() -> None:
    """Each API series is rolled up (db/metric_rollups.py): its count, min and max with their steps.
    Kept by hand like the point's columns, so a new metric fails here until they are written."""
    table = MetricRollup.__table__
    rolled = [column.name for column in table.columns if column.name not in {"job_id", "width", "bucket"}]
    expected = [*ROW_COLUMNS, *(column for name in api_series_names() for column in series_columns(name))]
    assert rolled == expected
    assert all(
        table.c[f"{name}_min"].nullable and isinstance(table.c[f"{name}_max"].type, Float)
        for name in api_series_names()
    )


def test_every_preset_runs_on_a_catalogued_gpu_type() -> None:
    for preset in PRESETS.values():
        assert find_gpu_type(preset["gpu_config"]["type"]) is not None
        assert valid_gpu_count(preset["gpu_config"]["count"])


def test_gpu_types_are_keyed_by_their_id_and_priced_in_decimal() -> None:
    assert all(key == gpu.id for key, gpu in GPU_TYPES.items())
    with pytest.raises(ValueError, match="Decimal"):
        GpuType("X", 1.5, 16, True, 100.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        GpuType("X", Decimal("1.50"), 0, True, 100.0)


@pytest.mark.parametrize("count", [0, MAX_GPU_COUNT + 1, True, 2.0, "2", None])
def test_a_gpu_count_is_a_whole_number_within_one_node(count: object) -> None:
    assert not valid_gpu_count(count)


@pytest.mark.parametrize("value", [None, 3, "", "h100", ["H100"]])
def test_only_an_offered_id_finds_a_gpu_type(value: object) -> None:
    assert find_gpu_type(value) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Training Loss"}, "lower-case identifier"),
        ({"name": "loss; DROP TABLE x"}, "lower-case identifier"),
        ({"name": "step"}, "not a point field"),
        ({"low": 1.0, "high": 0.0}, "above high"),
        ({"in_api": False}, "charted metric"),
        ({"in_contract": False}, "reports through the contract"),
    ],
)
def test_a_metric_entry_that_could_not_work_is_refused(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"name": "gpu_memory_used", "title": "memory", "description": "memory"}
    with pytest.raises(ValueError, match=message):
        Metric(**{**fields, **changes})  # type: ignore[arg-type]


def test_metric_bounds_from_the_catalogue_are_inclusive() -> None:
    notes: list[str] = []
    metrics = parse_metrics({"gpu_utilization": 100, "throughput": 0, "training_loss": -0.0001}, notes)
    assert metrics.as_dict() == {"throughput": 0.0, "gpu_utilization": 100.0}
    assert notes == ["metrics.training_loss: dropped out-of-range value -0.0001"]


def test_cluster_values_read_by_name_and_refuse_unknown_metrics() -> None:
    metrics = ClusterMetrics(training_loss=1.5, validation_loss=None)
    assert (metrics["training_loss"], metrics["validation_loss"]) == (1.5, None)
    assert metrics.as_dict() == {"training_loss": 1.5}
    with pytest.raises(TypeError, match="training_los"):
        ClusterMetrics(training_los=1.5)
    with pytest.raises(KeyError):
        _ = metrics["no_such_metric"]


def test_a_point_reads_its_metrics_by_name_and_survives_pickling() -> None:
    point = MetricsPoint(step=3, epoch=1, training_loss=1.2, gpu_utilization=90.0)
    assert (point.step, point["training_loss"], point["validation_loss"]) == (3, 1.2, None)
    assert point.metrics == ClusterMetrics(training_loss=1.2, gpu_utilization=90.0)
    assert pickle.loads(pickle.dumps(point)) == point  # noqa: S301  (our own bytes)
    with pytest.raises(TypeError, match="not both"):
        MetricsPoint(3, metrics=ClusterMetrics(), training_loss=1.0)
