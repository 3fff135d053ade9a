"""Packed tick patches: unpacking gives back every operation, each distinct value is sent once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dash import Patch, no_update
from plotly.io.json import to_json_plotly

from components.live_charts import append_points_patch, live_chart_state
from components.packed_patch import pack_patches, unpack_operations
from services.downsample import build_metrics_payload

START = 1_700_000_000.0
OPTS: dict[str, Any] = {"smoothing": 0.6, "log_y": False, "x_axis": "step", "steps_per_epoch": 100.0}


def _payload(first: int, last: int) -> Any:
    """Every step; validation every 5 steps, always lower than before (each one is a new best)."""
    rows = [
        (step, START + step * 0.5, 1.0 + (step % 7) / 10, 2.0 - step / 1000 if step % 5 == 0 else None,
         1e-4, 1.0 + (step % 3) / 10, 3000.0 + step % 11, 90.0 + step % 4)
        for step in range(first, last + 1)
    ]  # fmt: skip
    return build_metrics_payload(rows, 1000, started_at_epoch_s=START)


def _tick(x_axis: str) -> tuple[Any, Any]:
    opts = {**OPTS, "x_axis": x_axis}
    state = live_chart_state(_payload(1, 100), **opts)
    update = append_points_patch(_payload(101, 110), state)
    return update.loss, update.panels


def _operations(patch: Any) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = json.loads(to_json_plotly(patch))["operations"]
    return ops


@pytest.mark.parametrize("x_axis", ["step", "elapsed"])
def test_unpacking_a_tick_gives_back_every_operation_in_order(x_axis: str) -> None:
    loss, panels = _tick(x_axis)
    packed = pack_patches({"loss": loss, "panels": panels})
    assert packed is not None
    sent = json.loads(to_json_plotly(packed))  # what the browser receives
    assert unpack_operations(sent, "loss") == _operations(loss)
    assert unpack_operations(sent, "panels") == _operations(panels)
    assert any(op["location"] == ["layout", "annotations"] for op in _operations(loss))  # new best


def test_a_value_repeated_across_traces_and_figures_is_sent_once() -> None:
    loss, panels = _tick("step")
    packed = pack_patches({"loss": loss, "panels": panels})
    assert packed is not None
    steps = list(range(101, 111))
    assert packed["v"].count(steps) == 1
    uses = [op for ops in packed["p"].values() for op in ops if packed["v"][op[1]] == steps]
    assert len(uses) == 6  # training raw + smoothed, four panels
    encoded = [to_json_plotly(value) for value in packed["v"]]
    assert len(encoded) == len(set(encoded))
    plain = len(to_json_plotly(loss)) + len(to_json_plotly(panels))
    assert len(to_json_plotly(packed)) < plain / 2


def test_no_update_figures_are_left_out_and_nothing_packs_to_none() -> None:
    loss, _panels = _tick("step")
    packed = pack_patches({"loss": loss, "panels": no_update})
    assert packed is not None
    assert set(packed["p"]) == {"loss"}
    assert unpack_operations(packed, "panels") == []
    assert pack_patches({"loss": no_update, "panels": no_update}) is None


def test_operations_the_browser_script_cannot_rebuild_are_refused() -> None:
    deleting = Patch()
    del deleting["layout"]["annotations"]
    inserting = Patch()
    inserting["data"].insert(0, {"x": []})
    for patch in (deleting, inserting):
        with pytest.raises(ValueError, match="cannot pack"):
            pack_patches({"loss": patch})
    with pytest.raises(TypeError):
        pack_patches({"loss": {"data": []}})
