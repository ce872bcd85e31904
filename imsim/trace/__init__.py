"""Workload traces: GEMM records (A, B, metadata) read lazily from .npz files, the bundled
real MiniLM trace, synthetic traces, heavy-hitter statistics and (with torch) capture.

Nothing here imports torch; `imsim.trace.capture` and `imsim.trace.minilm` do, lazily.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from imsim.trace.format import (FORMAT_VERSION, GemmRecord, Trace, TraceWriter, make_record, open_trace,
                                save_trace)
from imsim.trace.synthetic import synthetic_trace

BUNDLED_TRACE = "minilm_l6_layer0.npz"

__all__ = ["FORMAT_VERSION", "GemmRecord", "Trace", "TraceWriter", "bundled_trace_path", "make_record",
           "open_trace", "save_trace", "synthetic_trace"]


def bundled_trace_path() -> Path:
    """The shipped default trace: real all-MiniLM-L6-v2 GEMMs (layer 0 forward and backward,
    plus the loss), inside the installed package (imsim/data/)."""
    return Path(str(resources.files("imsim").joinpath("data", BUNDLED_TRACE)))
