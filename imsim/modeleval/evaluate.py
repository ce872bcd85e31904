"""Evaluate a whole model on a design, and the model's quality per quantization setting (cached).

evaluate_model(name, hw, setting):
  * float run (torch, cached per process): the reference outputs;
  * imsim run: every GEMM quantized, unpacked for hw, executed and recombined (ImsimGemms),
    each unpacked GEMM costed with the timing/memory model (cycles, energy on hw);
  * quantized run: the same quantized operands multiplied by an independent exact integer
    product, no unpacking (QuantizedGemms);
  * `bit_exact`: the imsim run's outputs equal the quantized run's bit for bit (the paper's
    claim that unpacking changes nothing); metrics of the imsim run against the float run.
Quality depends only on the quantization setting (quantizer, beta, levels, w_levels,
granularity), so each evaluation stores its metrics under (model, setting), and
`model_quality` (used by sweeps) computes them once per setting, from the quantized run.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imsim.modeleval.gemm import FloatGemms, ImsimGemms, QuantizedGemms, QuantSetting
from imsim.modeleval.registry import get_model

_lock = threading.Lock()
_workloads: dict[str, Any] = {}
_float_out: dict[str, np.ndarray] = {}
_quality: dict[tuple, dict[str, float]] = {}


def workload(name: str):
    """The model's Workload, loaded once per process."""
    with _lock:
        if name not in _workloads:
            _workloads[name] = get_model(name).load()
        return _workloads[name]


def float_output(name: str) -> np.ndarray:
    """The float model's output (cached per process)."""
    with _lock:
        if name in _float_out:
            return _float_out[name]
    out = workload(name).run(FloatGemms())
    with _lock:
        _float_out[name] = out
    return out


def quality_cache_size() -> int:
    """How many (model, setting) qualities this process holds."""
    return len(_quality)


def model_quality(name: str, setting: QuantSetting, a_bits: int = 8, w_bits: int = 8) -> dict[str, float]:
    """The model metrics at `setting` (levels defaulting from a_bits/w_bits), computed once per
    (model, resolved setting) per process from the quantized run (equal bit for bit to every
    unpacked run; `evaluate_model` checks that)."""
    s = setting.resolved(a_bits, w_bits)
    key = (name, s.key())
    with _lock:
        if key in _quality:
            return _quality[key]
    wl = workload(name)
    metrics = wl.metrics(wl.run(QuantizedGemms(s, a_bits, w_bits)), float_output(name))
    with _lock:
        _quality[key] = metrics
    return metrics


@dataclass(frozen=True)
class ModelEvalResult:
    """One model on one design at one quantization setting."""

    model: str
    hw: str
    a_bits: int
    w_bits: int
    strategy: str
    digits: str
    timing: str
    setting: QuantSetting
    metrics: dict[str, float]
    bit_exact: bool              # imsim run == quantized (non-unpacked) run, bit for bit
    max_abs_diff: float          # between the two runs' outputs (0.0 when bit_exact)
    inputs: dict[str, Any]
    cost: dict[str, Any] = field(default_factory=dict)  # imsim.results.totals of the unpacked GEMMs
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        keep = ("gemms", "macs", "useful_macs", "unpack_ratio", "cycles", "stall_cycles", "dram_bytes",
                "energy_pj", "energy_per_useful_mac_pj", "area_um2", "utilization", "latency_us")
        return {"model": self.model, "hw": self.hw, "a_bits": self.a_bits, "w_bits": self.w_bits,
                "strategy": self.strategy, "digits": self.digits, "timing": self.timing, **self.setting.to_dict(),
                **{f"{self.model}_{k}": v for k, v in self.metrics.items()},
                "bit_exact": self.bit_exact, "max_abs_diff": self.max_abs_diff, **self.inputs,
                **{k: self.cost[k] for k in keep if k in self.cost}, "seconds": self.seconds}


def evaluate_model(name: str, hw, setting: QuantSetting, *, strategy: str = "auto", timing: str = "pipelined",
                   cost: bool = True, digits: str = "signmag") -> ModelEvalResult:
    """Run model `name` with every GEMM through imsim on design `hw` (see the module doc)."""
    from imsim.results import totals

    start = time.perf_counter()
    wl = workload(name)
    ref = float_output(name)
    engine = ImsimGemms(setting, hw, strategy=strategy, timing=timing, cost=cost, digits=digits)
    out = wl.run(engine)
    quant = wl.run(QuantizedGemms(setting, hw.a_bits, hw.w_bits))
    same = bool(np.array_equal(out, quant))
    diff = 0.0 if same else float(np.nanmax(np.abs(out.astype(np.float64) - quant)))
    metrics = wl.metrics(out, ref)
    s = engine.setting
    if same:
        with _lock:
            _quality.setdefault((name, s.key()), metrics)
    summary = totals(engine.log.results) if engine.log.results else {
        "gemms": engine.log.gemms, "useful_macs": engine.log.macs, "macs": engine.log.low_macs,
        "unpack_ratio": engine.log.low_macs / engine.log.macs if engine.log.macs else 1.0}
    return ModelEvalResult(name, hw.name, hw.a_bits, hw.w_bits, strategy, digits, timing, s, metrics, same, diff,
                           wl.describe(), summary, round(time.perf_counter() - start, 2))
