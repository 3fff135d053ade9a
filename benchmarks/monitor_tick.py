"""Bytes and server time of one monitor tick vs a full-figure refresh, for long-running jobs.

Runs the real app in-process on a throwaway PostgreSQL database: signs in, stores N metric points
for a running job (COPY), then POSTs to ``/_dash-update-component`` exactly what the browser
sends — first the full render (both figures from the downsampled history: what a page that
re-draws every tick would send each time, the baseline), then ticks, each after storing one
poll's worth of new points (10 steps) the way the cycle does. Server time is measured around the
in-process request (routing, login guard, service-layer queries, callback, JSON).

    python -m benchmarks.monitor_tick                  # histories 1,000 and 100,000 points
    python -m benchmarks.monitor_tick --histories 1000,100000,1000000 --ticks 30

Targets (issue 6): a tick <= 5 KB and <= 50 ms, independent of history length. Rows per
"tick+N": N new points stored before each tick (0 = a quiet tick; the cycle stores points in
batches every CYCLE_INTERVAL_SECONDS, so most ticks are quiet). "max KB" shows the ticks that also
carry a validation point and move the best-validation marker.

Wire formats (issue 16): each tick the server answers with plain Dash ``Patch`` outputs; the same
operations are also priced packed so each distinct value travels once (the format the monitor used
before compression; ``pack_figure_patches`` below, which a script in the browser had to unpack),
raw and compressed at the server's per-request levels (``api/compression.DYNAMIC_LEVELS``), with the
server CPU that differs between the two: packing, JSON encoding and compressing the body.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import brotli
from plotly.io.json import to_json_plotly
from sqlalchemy import create_engine, text, update

from api.compression import DYNAMIC_LEVELS
from api.runtime import Runtime
from app import create_app
from benchmarks.seed_metrics import copy_metric_points
from db.migrate import upgrade
from db.models import JobStatus, TrainingJob
from db.session import make_engine
from pages.monitor.layout import LOSS_GRAPH, PANELS_GRAPH
from services.accounts import create_user
from settings import Settings
from tests.factories import make_dataset, make_job

PG_ADMIN_URL = os.environ.get("PIPELINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ORIGIN = datetime(2026, 1, 1, tzinfo=UTC)  # seed_metrics timestamps start here
EMAIL, PASSWORD = "bench@example.com", "correct horse battery"


Callbacks = Mapping[str, Mapping[str, Any]]


def callbacks_of(app: Any) -> Callbacks:
    """The app's callbacks keyed by output id, as ``/_dash-dependencies`` lists them to the browser."""
    return dict(app.callback_map)


def dependencies_map(dependencies: list[dict[str, Any]]) -> Callbacks:
    """The body of ``GET /_dash-dependencies`` (what the renderer loads first), keyed by output id."""
    return {entry["output"]: entry for entry in dependencies}


def _callback(callbacks: Callbacks, input_id: str, prop: str) -> tuple[str, Mapping[str, Any]]:
    for key, entry in callbacks.items():
        if any(i["id"] == input_id and i["property"] == prop for i in entry["inputs"]):
            return key, entry
    raise LookupError(f"no callback with input {input_id}.{prop}")


def _outputs(key: str) -> list[dict[str, str]]:
    """The flat output list the renderer sends: ``id.prop@hash`` parts of the callback id."""
    parts = key[2:].split("...") if key.startswith("..") else [key]
    outputs = []
    for part in (p.rstrip(".") for p in parts):
        component, prop = part.rsplit(".", 1)
        outputs.append({"id": component, "property": prop.split("@", 1)[0]})
    return outputs


def _body(key: str, entry: Mapping[str, Any], values: dict[str, Any], changed: str) -> dict[str, Any]:
    def items(specs: list[dict[str, str]]) -> list[dict[str, Any]]:
        return [{**s, "value": values.get(f"{s['id']}.{s['property']}")} for s in specs]

    return {
        "output": key,
        "outputs": _outputs(key),
        "inputs": items(entry["inputs"]),
        "state": items(entry["state"]),
        "changedPropIds": [changed],
    }


def callback_request(
    callbacks: Callbacks, input_id: str, prop: str, values: dict[str, Any]
) -> dict[str, Any]:
    """The body the browser POSTs to ``/_dash-update-component`` when ``input_id.prop`` changes.

    ``values`` maps ``"<id>.<prop>"`` to the current value of every input and state.
    Used by this benchmark, by benchmarks/load_dashboard.py (callbacks from ``/_dash-dependencies``)
    and by tests that call the monitor's callbacks over HTTP.
    """
    key, entry = _callback(callbacks, input_id, prop)
    return _body(key, entry, values, f"{input_id}.{prop}")


def _post(client: Any, body: dict[str, Any]) -> tuple[int, float, dict[str, Any]]:
    start = time.perf_counter()
    response = client.post("/_dash-update-component", json=body, headers={"Origin": "http://localhost"})
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"callback failed: {response.status_code} {response.get_data(as_text=True)[:500]}")
    return len(response.get_data()), elapsed, response.get_json()


REPEAT = 20  # encode/compress each body this many times: one is a fraction of a millisecond


FIGURES = {"loss": LOSS_GRAPH, "panels": PANELS_GRAPH}
PACK_CODES = {"Assign": "A", "Extend": "E", "Merge": "M"}


def pack_figure_patches(answer: dict[str, Any]) -> dict[str, Any]:
    """The same tick with both figures' patch operations packed into one store value: each distinct
    value once in ``v``, each operation ``[code, index into v, location]`` (the retired format)."""
    outputs = dict(answer["response"])
    values: list[Any] = []
    seen: dict[str, int] = {}
    packed: dict[str, list[list[Any]]] = {}
    for name, graph in FIGURES.items():
        figure = outputs.pop(graph, {}).get("figure")
        if not figure:
            continue
        packed[name] = []
        for op in figure["operations"]:
            key = to_json_plotly(op["params"]["value"])
            if key not in seen:
                seen[key] = len(values)
                values.append(op["params"]["value"])
            packed[name].append([PACK_CODES[op["operation"]], seen[key], op["location"]])
    if packed:
        outputs["mon-patch"] = {"data": {"v": values, "p": packed}}
    return {**answer, "response": outputs}


def _cpu(work: Any) -> tuple[Any, float]:
    start = time.process_time()
    for _ in range(REPEAT):
        result = work()
    return result, (time.process_time() - start) / REPEAT


def price(answer: dict[str, Any]) -> dict[str, float]:
    """Bytes on the wire (raw, br, gzip at the server's levels) and the CPU to encode and compress."""
    body, encode = _cpu(lambda: to_json_plotly(answer).encode())
    br, br_cpu = _cpu(lambda: brotli.compress(body, quality=DYNAMIC_LEVELS["br"]))
    gz, gz_cpu = _cpu(lambda: gzip.compress(body, compresslevel=DYNAMIC_LEVELS["gzip"]))
    return {
        "raw": len(body),
        "br": len(br),
        "gzip": len(gz),
        "encode_ms": encode * 1000,
        "br_ms": br_cpu * 1000,
        "gzip_ms": gz_cpu * 1000,
    }


def _seed_job(runtime: Runtime, user_id: int, history: int) -> uuid.UUID:
    with runtime.transaction() as session:
        dataset = make_dataset(session, user_id)
        job = make_job(
            session,
            user_id,
            dataset.id,
            status=JobStatus.RUNNING,
            started_at=ORIGIN,
            total_steps=history * 2,
            total_epochs=3,
            current_step=history,
            progress=50.0,
            current_metrics={"training_loss": 0.3, "throughput": 3100.0, "gpu_utilization": 93.0},
            current_cost=Decimal("1.0000"),
        )
        job_id = job.id
    copy_metric_points(runtime.engine, job_id, history, total=history * 2)
    return job_id


def _advance(runtime: Runtime, job_id: uuid.UUID, last_step: int, total: int, count: int) -> int:
    copy_metric_points(runtime.engine, job_id, count, first_step=last_step + 1, total=total)
    new_last = last_step + count
    with runtime.transaction() as session:
        session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id)
            .values(current_step=new_last, progress=100.0 * new_last / total, updated_at=datetime.now(UTC))
        )
    return new_last


STORES = ("mon-chart-state", "mon-chart-opts", "mon-eta-from", "mon-view-state")


def _state_from(response: dict[str, Any], key: str, prop: str, current: Any) -> Any:
    return response["response"].get(key, {}).get(prop, current)


def _stats(sizes: list[int], times: list[float]) -> dict[str, float]:
    return {
        "bytes": statistics.median(sizes),
        "bytes_max": max(sizes),
        "ms": statistics.median(times) * 1000,
        "ms_p90": sorted(times)[int(0.9 * (len(times) - 1))] * 1000,
    }


Wire = dict[str, dict[str, dict[str, float]]]  # level -> format -> medians of ``price``


def measure(
    app: Any, client: Any, runtime: Runtime, user_id: int, history: int, ticks: int, new_points: list[int]
) -> tuple[dict[str, dict[str, float]], Wire]:
    """Full render (x5) then, per new-points level, ``ticks`` ticks; returns stats per row and the
    two wire formats' prices per level."""
    job_id = _seed_job(runtime, user_id, history)
    wire: Wire = {f"tick+{count}": {} for count in new_points}
    values: dict[str, Any] = {
        "mon-job-id.data": str(job_id),
        "mon-smoothing.value": 0.6,
        "mon-y-scale.value": "linear",
        "mon-x-axis.value": "step",
        "theme-store.data": "light",
    }
    sizes, times = [], []
    response: dict[str, Any] = {}
    for _ in range(5):
        size, seconds, response = _post(
            client, callback_request(callbacks_of(app), "mon-job-id", "data", values)
        )
        sizes.append(size)
        times.append(seconds)
    full = price(response)
    rows = {
        "full": {
            **_stats(sizes, times),
            **{f"{key}_wire": full[key] for key in ("br", "gzip", "br_ms", "gzip_ms", "encode_ms")},
        }
    }
    for store in STORES:
        values[f"{store}.data"] = _state_from(response, store, "data", None)

    last_step, total, n = history, history * 2, 0
    for count in new_points:
        sizes, times, packed, plain = [], [], [], []
        for _ in range(ticks):
            last_step = _advance(runtime, job_id, last_step, total, count) if count else last_step
            n += 1
            values["mon-interval.n_intervals"] = n
            cpu = time.process_time()
            size, seconds, response = _post(
                client, callback_request(callbacks_of(app), "mon-interval", "n_intervals", values)
            )
            cpu = time.process_time() - cpu
            sizes.append(size)
            times.append(seconds)
            plain.append({**price(response), "pack_ms": 0.0, "request_ms": cpu * 1000})
            repacked, pack_cpu = _cpu(lambda r=response: pack_figure_patches(r))
            packed.append({**price(repacked), "pack_ms": pack_cpu * 1000})
            for store in STORES:
                key = f"{store}.data"
                values[key] = _state_from(response, store, "data", values[key])
        assert values["mon-chart-state.data"]["last_step"] == last_step, "the cursor must follow the points"
        rows[f"tick+{count}"] = _stats(sizes, times)
        for name, priced in (("packed", packed), ("plain", plain)):
            wire[f"tick+{count}"][name] = {
                key: statistics.median(p[key] for p in priced) for key in priced[0]
            }
    return rows, wire


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--histories", default="1000,100000", help="comma-separated stored point counts")
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument(
        "--new-points",
        default="0,1,5,10",
        help="points stored before each tick, one row per level (10 = logging 2 steps/s at 5 s polls)",
    )
    args = parser.parse_args()
    histories = [int(h) for h in args.histories.split(",")]
    levels = [int(n) for n in args.new_points.split(",")]

    name = f"pipeline_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings.from_env(
                {"DATABASE_URL": url, "SECRET_KEY": "bench-secret-key-0123456789abcdef", "DATA_DIR": data_dir}
            )
            runtime = Runtime.create(settings)
            app = create_app(settings, runtime=runtime)
            with runtime.transaction() as session:
                user_id = create_user(session, EMAIL, PASSWORD).id
            client = app.server.test_client()
            client.post(
                "/login", data={"email": EMAIL, "password": PASSWORD}, headers={"Origin": "http://localhost"}
            )
            client.get("/training/jobs")  # first request: Dash registers its callbacks
            measured = [(h, measure(app, client, runtime, user_id, h, args.ticks, levels)) for h in histories]
            runtime.engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    rows = [(h, stats) for h, (stats, _) in measured]
    print(f"monitor: one tick vs a full-figure refresh (median of {args.ticks} ticks; 5 renders)")
    print(
        f"{'stored':>9} {'request':>9} {'raw KB':>7} {'max KB':>7} {'ms':>7} {'p90 ms':>7} {'bytes vs full':>14}"
    )
    worst_ms = 0.0
    for history, stats in rows:
        full = stats["full"]
        for label, r in stats.items():
            ratio = "baseline" if label == "full" else f"1/{full['bytes'] / r['bytes']:.0f}"
            print(
                f"{history:>9,} {label:>9} {r['bytes'] / 1024:>7.2f} {r['bytes_max'] / 1024:>7.2f} "
                f"{r['ms']:>7.1f} {r['ms_p90']:>7.1f} {ratio:>14}"
            )
            if label != "full":
                worst_ms = max(worst_ms, r["ms"])
    # on the wire: the browser always sends Accept-Encoding, so a tick travels brotli-compressed
    worst_bytes = max(f["plain"]["br"] for _, (_, wire) in measured for f in wire.values())
    verdict = "OK" if worst_bytes <= 5 * 1024 and worst_ms <= 50 else "OVER TARGET"
    print(
        f"targets: tick <= 5 KB on the wire (br) and <= 50 ms (medians) -> worst {worst_bytes / 1024:.2f} KB, "
        f"{worst_ms:.1f} ms: {verdict}"
    )
    for history, stats in rows:
        full = stats["full"]
        print(
            f"{history:>9,} full render on the wire: {full['bytes'] / 1024:.1f} KB raw, "
            f"{full['br_wire'] / 1024:.1f} KB br ({full['br_ms_wire']:.1f} ms CPU), "
            f"{full['gzip_wire'] / 1024:.1f} KB gzip ({full['gzip_ms_wire']:.1f} ms CPU); "
            f"JSON encoding {full['encode_ms_wire']:.1f} ms"
        )
    print_wire_formats([(h, wire) for h, (_, wire) in measured], args.ticks)
    print(json.dumps({str(h): {"ticks": stats, "wire": wire} for h, (stats, wire) in measured}))


def print_wire_formats(measured: list[tuple[int, Wire]], ticks: int) -> None:
    """Packed vs plain ``Patch`` ticks: bytes raw, br and gzip, and the CPU that differs."""
    levels = f"br {DYNAMIC_LEVELS['br']}, gzip {DYNAMIC_LEVELS['gzip']}"
    print(f"\ntick wire format: packed (baseline) vs plain Patch, medians of {ticks} ticks, {levels}")
    print(
        f"{'stored':>9} {'request':>9} {'format':>7} {'raw B':>7} {'br B':>6} {'gzip B':>7} "
        f"{'pack ms':>8} {'json ms':>8} {'br ms':>6} {'CPU ms':>7} {'br vs packed':>13}"
    )
    for history, wire in measured:
        for label, formats in wire.items():
            base = formats["packed"]
            for name, r in formats.items():
                cpu = r["pack_ms"] + r["encode_ms"] + r["br_ms"]
                ratio = "baseline" if name == "packed" else f"{r['br'] / base['br']:.2f}x"
                print(
                    f"{history:>9,} {label:>9} {name:>7} {r['raw']:>7,.0f} {r['br']:>6,.0f} {r['gzip']:>7,.0f} "
                    f"{r['pack_ms']:>8.3f} {r['encode_ms']:>8.3f} {r['br_ms']:>6.3f} {cpu:>7.3f} {ratio:>13}"
                )
        request = statistics.median(f["plain"]["request_ms"] for f in wire.values())
        print(f"{history:>9,} whole tick request (plain, as served): {request:.1f} ms of CPU (median)")


if __name__ == "__main__":
    main()
