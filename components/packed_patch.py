"""Several ``dash.Patch`` objects as one compact JSON document in which each distinct value is sent once.

A tick appends the same steps to many traces; packed, each distinct value travels once in ``v`` and
each operation is ``[code, index into v, location]``. ``assets/monitor_patch.js`` rebuilds real
patches in the browser; ``unpack_operations`` is its Python mirror, for tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from dash import Patch, no_update
from plotly.io.json import to_json_plotly

# Dash operation name <-> one-letter code; the script maps codes to dash_clientside.Patch methods.
# Only operations that take exactly a location and a value can be packed.
OPERATION_CODES: dict[str, str] = {"Assign": "A", "Extend": "E", "Merge": "M"}
_OPERATIONS = {code: name for name, code in OPERATION_CODES.items()}


class PackedPatches(TypedDict):
    v: list[Any]  # distinct values, each once
    p: dict[str, list[list[Any]]]  # per output name: [code, value index, location] in order


def pack_patches(patches: Mapping[str, Any]) -> PackedPatches | None:
    """Pack ``name -> Patch`` (``no_update`` entries are left out); None when nothing is left.

    Two values are shared when they serialise to the same JSON as Dash would send them, so
    unpacking gives back exactly the operations of each patch, in their order.

    Raises:
        ValueError: for an operation that is not a location plus a value (``Delete``, ``Insert``...).
    """
    values: list[Any] = []
    seen: dict[str, int] = {}
    packed: dict[str, list[list[Any]]] = {}
    for name, patch in patches.items():
        if patch is no_update:
            continue
        if not isinstance(patch, Patch):
            raise TypeError(f"{name}: expected a dash.Patch or no_update, got {type(patch).__name__}")
        ops = []
        for op in patch.to_plotly_json()["operations"]:
            code = OPERATION_CODES.get(op["operation"])
            if code is None or set(op["params"]) != {"value"}:
                raise ValueError(f"{name}: cannot pack a {op['operation']} operation")
            value = op["params"]["value"]
            key = to_json_plotly(value)
            if key not in seen:
                seen[key] = len(values)
                values.append(value)
            ops.append([code, seen[key], list(op["location"])])
        packed[name] = ops
    return {"v": values, "p": packed} if packed else None


def unpack_operations(packed: PackedPatches, name: str) -> list[dict[str, Any]]:
    """The Dash patch operations packed under ``name`` (what ``assets/monitor_patch.js`` rebuilds)."""
    return [
        {"operation": _OPERATIONS[code], "location": location, "params": {"value": packed["v"][index]}}
        for code, index, location in packed["p"].get(name, [])
    ]
