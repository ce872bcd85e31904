"""Mapping of a GEMM onto the R x C systolic array and its compute cycles.

    map_gemm(M, K, N, rows, cols, dataflow) -> Mapping
    compute_timing(M, K, N, rows, cols, dataflow, timing="pipelined") -> ComputeTiming

dataflow in {"os", "ws", "is"} (one module each), timing in {"scalesim", "pipelined"}.
Closed-form arithmetic only; formulas and the events counted are in docs/model-array.md.
"""
from __future__ import annotations

from functools import lru_cache
from types import ModuleType

from imsim.array import is_ as _is
from imsim.array import os as _os
from imsim.array import ws as _ws
from imsim.array.mapping import (DATAFLOWS, TIMINGS, ComputeTiming, Mapping, Tile,
                                 check_dims)
from imsim.errors import bad_value

__all__ = ["DATAFLOWS", "TIMINGS", "Tile", "Mapping", "ComputeTiming", "map_gemm",
           "compute_timing", "dataflow_module"]

_MODULES: dict[str, ModuleType] = {"os": _os, "ws": _ws, "is": _is}


def dataflow_module(dataflow: str) -> ModuleType:
    """The module holding one dataflow's formulas (UserError for an unknown name)."""
    try:
        return _MODULES[dataflow]
    except (KeyError, TypeError):
        raise bad_value(None, "dataflow", dataflow, "one of " + ", ".join(DATAFLOWS)) from None


def map_gemm(M: int, K: int, N: int, rows: int, cols: int, dataflow: str) -> Mapping:
    """Fold the GEMM (A: M x K, B: K x N) onto a rows x cols array for `dataflow`.

    UserError for a dimension < 1 or an unknown dataflow. Results are cached.
    """
    return _map_gemm(*check_dims(M, K, N, rows, cols), dataflow)


def compute_timing(M: int, K: int, N: int, rows: int, cols: int, dataflow: str,
                   timing: str = "pipelined") -> ComputeTiming:
    """Compute cycles, folds, utilization and mapping efficiency of one GEMM (no stalls).

    timing: "pipelined" (default, folds overlap) or "scalesim" (SCALE-Sim 3.0.0's count).
    """
    return _compute_timing(*check_dims(M, K, N, rows, cols), dataflow, timing)


@lru_cache(maxsize=4096)
def _map_gemm(M: int, K: int, N: int, rows: int, cols: int, dataflow: str) -> Mapping:
    return dataflow_module(dataflow).map_gemm(M, K, N, rows, cols)


@lru_cache(maxsize=4096)
def _compute_timing(M: int, K: int, N: int, rows: int, cols: int, dataflow: str,
                    timing: str) -> ComputeTiming:
    if timing not in TIMINGS:
        raise bad_value(None, "timing", timing, "one of " + ", ".join(TIMINGS))
    return dataflow_module(dataflow).compute_timing(_map_gemm(M, K, N, rows, cols, dataflow),
                                                    timing)
