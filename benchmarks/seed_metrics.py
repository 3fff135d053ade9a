"""Fast bulk insert of synthetic metric points with PostgreSQL COPY (benchmarks and tests).

Shapes like a real run: decaying noisy training loss with rare spikes, validation every 50 steps,
a cosine learning-rate schedule, GPU figures around their usual values. Deterministic per seed.
"""

from __future__ import annotations

import io
import math
import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from db.metric_rollups import rebuild_rollups, rollup_series

VALIDATION_EVERY = 50
SECONDS_PER_STEP = 0.5
COPY_COLUMNS = (
    "job_id, timestamp, epoch, step, training_loss, validation_loss, learning_rate, "
    "gradient_norm, throughput, gpu_utilization"
)


def synthetic_rows(
    job_id: uuid.UUID, first_step: int, count: int, *, total: int | None = None, seed: int = 7
) -> io.StringIO:
    """Tab-separated COPY text for steps first_step .. first_step+count-1."""
    rng = random.Random(seed + first_step)
    total = total or (first_step + count)
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    out = io.StringIO()
    for step in range(first_step, first_step + count):
        progress = step / total
        loss = 2.5 * math.exp(-3 * progress) + 0.2 + rng.random() * 0.05
        if rng.random() < 0.0005:
            loss *= 3  # a rare spike that must survive downsampling
        validation = f"{loss + 0.05:.6f}" if step % VALIDATION_EVERY == 0 else "\\N"
        stamp = (origin + timedelta(seconds=step * SECONDS_PER_STEP)).isoformat()
        out.write(
            f"{job_id}\t{stamp}\t{progress * 3:.5f}\t{step}\t{loss:.6f}\t{validation}\t"
            f"{2e-4 * (0.5 + 0.5 * math.cos(math.pi * progress)):.8f}\t{1 + rng.random():.5f}\t"
            f"{3000 + rng.random() * 200:.2f}\t{90 + rng.random() * 8:.2f}\n"
        )
    out.seek(0)
    return out


def copy_metric_points(
    engine: Engine, job_id: uuid.UUID, count: int, *, first_step: int = 1, total: int | None = None
) -> None:
    """Insert `count` points for `job_id` in one COPY (≈0.3 s per 100k rows here), then build their
    rollups in one grouping statement, as the ingest path would have kept them."""
    data = synthetic_rows(job_id, first_step, count, total=total)
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        with cursor, cursor.copy(f"COPY lora_metrics_points ({COPY_COLUMNS}) FROM STDIN") as copy:
            while chunk := data.read(1 << 20):
                copy.write(chunk)
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as connection:
        rebuild_rollups(
            connection,
            rollup_series(),
            job_id=job_id,
            first_step=first_step,
            last_step=first_step + count - 1,
        )
