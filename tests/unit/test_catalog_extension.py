"""The issue's two traced changes, redone: a new GPU type and a new metric are each one catalogue
entry, and everything that derives from the catalogue picks them up with no other change.

Before the catalogues a GPU type touched services/costs.py, services/job_config.py and
simulator/curves.py plus four documents (adding only the price made the estimate raise KeyError);
a metric touched about 17 files. Each test below adds one entry in a fixture and walks the parts.
What still needs a hand for a metric is shown too: the typed model column and its migration.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from catalog.base_models import default_base_model
from catalog.gpus import GPU_TYPES, GpuType
from catalog.metrics import METRICS, Metric, metric_names
from components.charts import metric_panels_figure, panel_rows, panel_series, panel_trace_index
from components.job_form import gpu_type_options
from components.live_charts import append_points_patch, live_chart_state
from contract.parsing import parse_status_report
from contract.results import MetricsPoint
from db.metric_rollups import rollup_series
from db.metric_store import columns, copy_statements, point_rows
from db.models import MetricPoint
from services import metrics_cache
from services.costs import hourly_rate
from services.downsample import build_metrics_payload, series_names
from services.job_config import estimate_job_config, resolve_job_config
from services.job_timing import step_seconds
from services.metrics_buckets import BucketSummary, fold_rows
from simulator import curves
from simulator.submission import parse_submission
from tests.documents import ROOT, catalog_docs
from trainer.reporter import StatusReporter

L40S = GpuType("L40S", Decimal("1.90"), 48, True, 3000.0)
GPU_MEMORY = Metric(
    "gpu_memory_used",
    "GPU memory (GB)",
    "GPU memory in use",
    unit="GB",
    high=200.0,
    hover_format=".1f",
)


@pytest.fixture
def new_gpu(monkeypatch: pytest.MonkeyPatch) -> GpuType:
    monkeypatch.setitem(GPU_TYPES, L40S.id, L40S)
    return L40S


@pytest.fixture
def new_metric(monkeypatch: pytest.MonkeyPatch) -> Metric:
    monkeypatch.setitem(METRICS, GPU_MEMORY.name, GPU_MEMORY)
    return GPU_MEMORY


# -- a GPU type: one entry ----------------------------------------------------------------------


def test_a_new_gpu_type_is_priced_validated_and_estimated(new_gpu: GpuType) -> None:
    assert hourly_rate("L40S", 2) == Decimal("3.80")
    config = resolve_job_config({"dataset_id": 1, "gpu_config": {"type": "L40S", "count": 2}})
    assert config.gpu_config == {"type": "L40S", "count": 2}
    estimate = estimate_job_config(config, total_training_pairs=1000, total_tokens=200_000)
    assert estimate.hourly_rate == Decimal("3.80")
    # The estimate runs at the new type's throughput: 2 GPUs at 90% of 3,000 tokens/s each (for the
    # ~7B reference; the default Mistral 7B is a little larger).
    hp = config.hyperparameters
    per_second = 3000.0 * 2 * 0.9 * default_base_model().speed_factor
    per_step = estimate.tokens_per_step / per_second * (1 + hp["rank"] / 256)
    assert estimate.seconds_per_step == pytest.approx(max(0.2, per_step))


def test_a_new_gpu_type_is_offered_by_the_configure_page(new_gpu: GpuType) -> None:
    options = gpu_type_options()
    assert options[-1] == {"label": "L40S · $1.90/h per GPU", "value": "L40S"}


def test_the_simulated_cluster_accepts_a_new_gpu_type_and_runs_at_its_speed(new_gpu: GpuType) -> None:
    spec = parse_submission(
        {
            "job_id": "job-l40s",
            "dataset_url": "https://pipeline.test/data.jsonl",
            "hyperparameters": {"batch_size": 8},
            "gpu_config": {"type": "L40S", "count": 2},
        }
    )
    assert (spec.gpu_type, spec.gpu_count) == ("L40S", 2)
    shape = curves.make_shape(
        "job-l40s",
        total_steps=100,
        steps_per_epoch=50,
        epochs=2,
        batch_size=8,
        lr=2e-4,
        gpu_type="L40S",
        gpu_count=2,
    )
    # The simulated cluster runs at the estimate's speed for the new type (services/job_timing.py).
    per_step = step_seconds(default_base_model(), new_gpu, 2, 8 * 512, 16)
    assert shape.samples_per_second == pytest.approx(8 / per_step)


def test_the_documents_check_names_every_document_a_new_gpu_type_changes(new_gpu: GpuType) -> None:
    docs = catalog_docs()
    assert docs.stale_blocks() == [
        "docs/api.md: catalogue blocks are out of date",
        "docs/gpu-cluster-api.md: catalogue blocks are out of date",
        "docs/openapi.yaml: catalogue blocks are out of date",
        "docs/api-openapi.yaml: catalogue blocks are out of date",
    ]
    api, problems = docs.render_document("docs/api.md", (ROOT / "docs/api.md").read_text())
    assert problems == []
    assert "| `L40S` | $1.90 | 48 GB | yes | 3,000 |" in api  # what `python .ci/catalog_docs.py` writes


# -- a metric: one entry, plus the typed model column and its migration --------------------------


def test_a_new_metric_is_parsed_from_a_status_report(new_metric: Metric) -> None:
    body = {
        "status": "running",
        "metrics": {"training_loss": 1.0, "gpu_memory_used": 31.5},
        "metrics_history": [
            {"step": 1, "gpu_memory_used": 30.0},
            {"step": 2, "gpu_memory_used": -4},  # below its bound: dropped with a note
        ],
    }
    report = parse_status_report(body, "ext-1", since_step=0)
    assert report.metrics.as_dict() == {"training_loss": 1.0, "gpu_memory_used": 31.5}
    assert [p["gpu_memory_used"] for p in report.metrics_history] == [30.0, None]
    assert report.notes == ("metrics_history[1].gpu_memory_used: dropped out-of-range value -4",)


def test_a_new_metric_is_stored_by_the_bulk_insert(new_metric: Metric) -> None:
    assert columns()[-1] == "gpu_memory_used"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    job_id = uuid.uuid4()
    [row] = point_rows(
        job_id, [MetricsPoint(7, 1, None, training_loss=1.2, gpu_memory_used=30.0)], default_time=now
    )
    assert row == (job_id, now, 1, 7, 1.2, None, None, None, None, None, 30.0)
    sql = copy_statements(metric_names(), rollup_series())
    assert "gpu_utilization float8, gpu_memory_used float8) ON COMMIT DELETE ROWS" in sql.create_staging
    assert sql.merge.count("gpu_utilization, gpu_memory_used") == 3  # the INSERT, SELECT and RETURNING lists
    assert "gpu_memory_used_max_step" in sql.merge  # and its rollup columns
    assert "gpu_memory_used" in sql.copy
    assert len(sql.copy_types) == len(columns())


def test_a_new_metric_needs_its_model_column_and_migration(new_metric: Metric) -> None:
    """The one part that does not derive: the typed ORM column (tests/unit/test_catalog.py
    fails until it is added) and its hand-written migration (tests/integration/test_migrations.py)."""
    assert "gpu_memory_used" not in MetricPoint.__table__.columns


def _rows_with_memory(first: int, last: int) -> list[tuple[float | int | None, ...]]:
    return [
        (s, 1000.0 + s, 2.0 / s, None, 1e-4, 1.0, 3000.0, 90.0, 30.0 + s % 3) for s in range(first, last + 1)
    ]


def test_a_new_metric_is_an_api_series_downsampled_summarised_and_cached(new_metric: Metric) -> None:
    assert series_names()[-1] == "gpu_memory_used"
    payload = build_metrics_payload(_rows_with_memory(1, 50), 10, started_at_epoch_s=1000.0)
    series = payload["series"]["gpu_memory_used"]
    assert (series["step"][0], series["step"][-1], max(series["value"])) == (1, 50, 32.0)

    summary = BucketSummary(width=1, upto_step=0)
    fold_rows(summary, _rows_with_memory(1, 50), 8)
    assert summary.names[-1] == "gpu_memory_used"
    assert summary.last["gpu_memory_used"] == (50, 32.0)


def test_a_payload_cached_before_the_metric_existed_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = uuid.UUID(int=1)
    key_before = metrics_cache.payload_key(job_id, 1000, 1, 5)
    monkeypatch.setitem(METRICS, GPU_MEMORY.name, GPU_MEMORY)
    assert metrics_cache.payload_key(job_id, 1000, 1, 5) != key_before


def test_a_new_metric_gets_a_panel_on_the_monitor(new_metric: Metric) -> None:
    assert panel_series()[-1] == "gpu_memory_used"
    assert panel_rows() == 3
    head = build_metrics_payload(_rows_with_memory(1, 20), 1000, started_at_epoch_s=1000.0)
    fig = metric_panels_figure(head, x_axis="step", steps_per_epoch=None)
    index = panel_trace_index()["gpu_memory_used"]
    assert len(fig.data) == 5
    assert list(fig.data[index].y) == head["series"]["gpu_memory_used"]["value"]
    assert fig.layout.yaxis5.title.text == "GPU memory (GB)"
    assert fig.layout.xaxis5.matches == "x"
    assert "%{y:.1f}" in fig.data[index].hovertemplate

    state = live_chart_state(head, smoothing=0.0, log_y=False, x_axis="step", steps_per_epoch=None)
    tick = build_metrics_payload(_rows_with_memory(21, 22), 1000, started_at_epoch_s=1000.0)
    operations = append_points_patch(tick, state).panels.to_plotly_json()["operations"]
    extended = {tuple(op["location"]): op["params"]["value"] for op in operations}
    assert extended[("data", index, "y")] == tick["series"]["gpu_memory_used"]["value"]


def test_the_simulated_cluster_reports_a_new_metric_within_its_bounds(new_metric: Metric) -> None:
    shape = curves.make_shape(
        "job-m",
        total_steps=100,
        steps_per_epoch=50,
        epochs=2,
        batch_size=8,
        lr=2e-4,
        gpu_type="H100",
        gpu_count=1,
    )
    values = [curves.point(shape, step)["gpu_memory_used"] for step in range(1, 101)]
    assert all(isinstance(v, float) and 0.0 <= v <= 200.0 for v in values)
    assert len(set(values)) > 10  # noisy, not a constant
    assert all(name in curves.SIMULATED_CURVES for name in metric_names() if name != "gpu_memory_used")


def test_the_trainer_reports_a_new_metric(new_metric: Metric) -> None:
    out = io.StringIO()
    reporter = StatusReporter("job-1", None, None, stdout=out)
    reporter.add_point({"step": 1, "training_loss": 2.0, "gpu_memory_used": 21.5}, epoch=1, total_steps=10)
    assert reporter.snapshot()["metrics"]["gpu_memory_used"] == 21.5
    line = json.loads(out.getvalue().splitlines()[-1].removeprefix("METRIC "))
    assert line["metrics_history"][0]["gpu_memory_used"] == 21.5
    with pytest.raises(ValueError, match="gpu_memory_usd"):
        reporter.add_point({"step": 2, "gpu_memory_usd": 1.0}, epoch=1, total_steps=10)
    reporter.finish("completed")


def test_the_documents_check_names_every_document_a_new_metric_changes(new_metric: Metric) -> None:
    assert catalog_docs().stale_blocks() == [
        "docs/api.md: catalogue blocks are out of date",
        "docs/gpu-cluster-api.md: catalogue blocks are out of date",
        "docs/openapi.yaml: catalogue blocks are out of date",
        "docs/api-openapi.yaml: catalogue blocks are out of date",
    ]


def test_without_the_fixtures_the_catalogues_are_as_shipped() -> None:
    assert "L40S" not in GPU_TYPES
    assert "gpu_memory_used" not in METRICS
    assert catalog_docs().stale_blocks() == []
