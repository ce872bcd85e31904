"""The main job behind `imsim demo`: the bundled real trace on a few shipped designs, compared at
equal quality and equal area.

Every design quantizes the trace the same way: the paper's RTN quantizer with beta = 0.99 and
d = DEMO_LEVELS distinct values per tensor (A and B), so every design computes the same integers
and the same result (quality does not depend on the MAC width; unpacking is exact). The designs
differ only in MAC width and array shape; everything else is `hw_configs/default.yaml` (same
SRAMs, same DRAM bandwidth, same 32-bit PE accumulators and 64-bit recombination accumulator,
same unpack and recombination units). The shapes are the ones `experiments/size_equal_area.py`
picks so that each design's area (imsim's area model) is within 1 % of the int8 32 x 32 array's:

* ``32x32_int8``: the reference; at beta 0.99 it too has heavy hitters outside +-127 (strategy
  ``auto``);
* ``35x35_int6``: 6-bit MACs, strategy ``auto``;
* ``38x38_int4``: 4-bit MACs, each strategy row, col, both, auto;
* ``41x41_int2``: 2-bit MACs, strategy ``auto`` (the fixed strategies run 11-13x the MACs here,
  too slow for the demo; `experiments/study_equal_quality.yaml` has the full comparison).

d = 15 is the paper's 4-bit RTN setting: MiniLM keeps a mean embedding cosine of 0.90 to the
float model at this setting (`imsim eval minilm --beta 0.99 --levels 15`, docs/studies.md).

Each (design, strategy) runs every GEMM of the trace through `imsim.simulate.simulate_gemm`
(cycle model, memory model, exact execution) and the per-GEMM results are totalled like a sweep
point (`imsim.sweep.store.point_totals`): cycles, energies, MACs summed; area of the design;
unpack ratio = total low-bit MACs / total useful MACs; energy per useful MAC = total energy (pJ)
/ total useful MACs. Quantization is done once per GEMM and shared by all designs.
The core here does no printing; `progress` (a callable taking one line) reports steps.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

DEMO_STRATEGIES = ("row", "col", "both", "auto")
DEMO_BETA = 0.99
DEMO_LEVELS = 15
DEMO_QUANTIZER = "paper"
SUMMARY_COLUMNS = ("design", "bits", "strategy", "unpack_ratio", "cycles", "energy_pj", "area_um2",
                   "energy_per_useful_mac_pj", "rel_error", "exact")


@dataclass(frozen=True)
class DemoDesign:
    """One demo design: a hardware config file (relative to the repo's hw_configs/), overrides,
    the quantization (RTN threshold beta, distinct values `levels` for A and B) and strategies."""

    label: str
    config: str
    overrides: tuple[tuple[str, Any], ...]
    beta: float
    strategies: tuple[str, ...]
    levels: int = DEMO_LEVELS


DEMO_DESIGNS: tuple[DemoDesign, ...] = (
    DemoDesign("32x32_int8", "default.yaml", (("name", "32x32_int8"),), DEMO_BETA, ("auto",)),
    DemoDesign("35x35_int6", "default.yaml", (("name", "35x35_int6"), ("rows", 35), ("cols", 35), ("a_bits", 6),
                                              ("w_bits", 6)), DEMO_BETA, ("auto",)),
    DemoDesign("38x38_int4", "default.yaml", (("name", "38x38_int4"), ("rows", 38), ("cols", 38), ("a_bits", 4),
                                              ("w_bits", 4)), DEMO_BETA, DEMO_STRATEGIES),
    DemoDesign("41x41_int2", "default.yaml", (("name", "41x41_int2"), ("rows", 41), ("cols", 41), ("a_bits", 2),
                                              ("w_bits", 2)), DEMO_BETA, ("auto",)),
)


def hw_configs_dir() -> Path:
    """The shipped hardware configs folder."""
    from imsim.hwconfig import HW_CONFIGS_DIR

    return HW_CONFIGS_DIR


def load_design(design: DemoDesign) -> Any:
    """The HwConfig of a demo design."""
    from imsim.hwconfig import load_hw_config

    return load_hw_config(hw_configs_dir() / design.config, dict(design.overrides))


@dataclass(frozen=True)
class DemoResult:
    """Totals per (design, strategy) (`rows`, dicts with units in the keys), the per-GEMM rows,
    the trace used and the wall time (s)."""

    trace: str
    gemms: int
    rows: tuple[dict[str, Any], ...]
    gemm_rows: tuple[dict[str, Any], ...]
    seconds: float

    @property
    def all_exact(self) -> bool:
        return all(bool(r["exact"]) for r in self.rows)

    def summary(self) -> list[dict[str, Any]]:
        """The summary table: one row per (design, strategy), the SUMMARY_COLUMNS only."""
        return [{c: r.get(c) for c in SUMMARY_COLUMNS} for r in self.rows]


def _totals(fields: dict[str, Any], gemm_rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    from imsim.sweep.store import point_totals

    return point_totals(fields, [{k: v for k, v in r.items() if k not in fields} for r in gemm_rows])


def _gemm_rows(record: Any, gi: int, designs: Sequence[DemoDesign], hws: dict[str, Any]
               ) -> dict[tuple[str, str], dict[str, Any]]:
    """Result rows of one GEMM on every (design, strategy); quantization shared per (beta, levels)."""
    from imsim import simulate
    from imsim.quality import quantize_gemm
    from imsim.unpack import unpack_gemm

    A, B = record.A, record.B
    from imsim.trace.provenance import of_meta

    meta = {"name": record.name, "kind": record.kind, "phase": record.phase, "model": record.model,
            "provenance": of_meta(record.meta)}
    quantized: dict[tuple[float, int], tuple[np.ndarray, np.ndarray, dict[str, Any]]] = {}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for d in designs:
        hw = hws[d.label]
        key = (d.beta, d.levels)  # with levels given, the integers do not depend on the MAC width
        if key not in quantized:
            quantized[key] = quantize_gemm(A, B, hw.a_bits, hw.w_bits, beta=d.beta, levels=d.levels,
                                           w_levels=d.levels, quantizer=DEMO_QUANTIZER)
        qa, qb, quality = quantized[key]
        for s in d.strategies:
            ug = unpack_gemm(qa, qb, hw.a_bits, hw.w_bits, strategy=s)
            row = simulate.simulate_gemm(hw, ug, meta=meta, operands=(qa, qb), quality=quality).to_dict()
            row["gemm_index"] = gi
            out[(d.label, s)] = row
    return out


def _worker_job(trace_path: str, gi: int, designs: Sequence[DemoDesign]) -> tuple[int, dict]:
    """One GEMM in a worker process (opens the trace lazily: headers, then this record's arrays)."""
    from imsim.trace.format import open_trace

    hws = {d.label: load_design(d) for d in designs}
    return gi, _gemm_rows(open_trace(trace_path)[gi], gi, designs, hws)


def run_demo(trace_path: str | Path | None = None, max_gemms: int | None = None,
             designs: Sequence[DemoDesign] = DEMO_DESIGNS, workers: int = 1,
             progress: Callable[[str], None] = lambda line: None) -> DemoResult:
    """Run the demo designs on a trace (default: the bundled MiniLM subset); first `max_gemms` GEMMs.

    workers > 1 spreads the GEMMs over a local process pool (results are identical)."""
    from imsim.trace.format import open_trace

    t0 = time.perf_counter()
    if trace_path is None:
        from imsim.trace import bundled_trace_path

        trace_path = bundled_trace_path()
    path = Path(trace_path)
    trace = open_trace(path)
    records = list(trace)[: max_gemms] if max_gemms else list(trace)
    hws = {d.label: load_design(d) for d in designs}
    jobs = [(d, s) for d in designs for s in d.strategies]
    per_gemm: dict[int, dict[tuple[str, str], dict[str, Any]]] = {}

    def done(gi: int) -> None:
        rec = records[gi]
        progress(f"demo: GEMM {len(per_gemm)}/{len(records)} {rec.name} ({rec.phase} {rec.kind}, "
                 f"M,K,N = {','.join(map(str, rec.shape))}) done, {time.perf_counter() - t0:.1f} s")

    if workers > 1 and len(records) > 1:
        from concurrent.futures import as_completed

        from imsim.workers import fork_pool

        with fork_pool(min(workers, len(records))) as pool:
            futures = [pool.submit(_worker_job, str(path), gi, tuple(designs)) for gi in range(len(records))]
            for fut in as_completed(futures):
                gi, rows_gi = fut.result()
                per_gemm[gi] = rows_gi
                done(gi)
    else:
        for gi, rec in enumerate(records):
            per_gemm[gi] = _gemm_rows(rec, gi, designs, hws)
            done(gi)
    per_job = {(d.label, s): [per_gemm[gi][(d.label, s)] for gi in range(len(records))] for d, s in jobs}
    rows = []
    gemm_rows = []
    for d, s in jobs:
        hw = hws[d.label]
        fields = {"design": d.label, "bits": hw.a_bits, "strategy": s, "beta": d.beta, "levels": d.levels,
                  "dataflow": hw.dataflow, "rows": hw.rows, "cols": hw.cols}
        grs = per_job[(d.label, s)]
        total = _totals(fields, grs)
        used = sorted({str(r.get("strategy", s)) for r in grs})
        total["strategies_used"] = ",".join(used)
        total["throughput_macs_per_cycle_per_mm2"] = (
            total["useful_macs"] / total["cycles"] / (total["area_um2"] / 1e6)
            if total.get("cycles") and total.get("area_um2") else float("nan"))
        rows.append(total)
        gemm_rows += [{**fields, **{k: v for k, v in r.items() if k not in fields}} for r in grs]
    return DemoResult(trace=str(path), gemms=len(records), rows=tuple(rows), gemm_rows=tuple(gemm_rows),
                      seconds=time.perf_counter() - t0)


def plot_demo(result: DemoResult, out_file: str | Path) -> Path:
    """One trade-off figure: operand bits vs unpack ratio, cycles, energy (pJ) and energy per
    useful MAC (pJ), one line per strategy; the int8 design as the reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imsim.plot import save_figure

    metrics = (("unpack_ratio", "unpack ratio (MACs run / useful MACs)", False),
               ("cycles", "cycles (total over trace)", True),
               ("energy_pj", "energy (pJ, total over trace)", True),
               ("energy_per_useful_mac_pj", "energy per useful MAC (pJ)", False))
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    axes = axes.flatten()
    strategies = list(dict.fromkeys(r["strategy"] for r in result.rows))
    markers = {"none": "s", "row": "o", "col": "^", "both": "D", "auto": "*"}
    for ax, (col, label, logy) in zip(axes, metrics):
        for s in strategies:
            pts = sorted((r["bits"], r[col]) for r in result.rows if r["strategy"] == s)
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            name = "no unpacking" if s == "none" else s
            ax.plot(xs, ys, marker=markers.get(s, "o"), linestyle="-" if len(xs) > 1 else "none",
                    markersize=8 if s in ("none", "auto") else 6, label=name)
        ax.set_xlabel("operand bits (a_bits = w_bits)")
        ax.set_ylabel(label)
        ax.set_xticks(sorted({r["bits"] for r in result.rows}))
        if logy:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    axes[0].legend(title="strategy", fontsize=8)
    fig.suptitle(f"imsim demo: equal-area OS arrays (int8 32x32, int6 35x35, int4 38x38, int2 41x41) on "
                 f"{Path(result.trace).name} ({result.gemms} GEMMs)\nsame quantization for all: "
                 f"{DEMO_QUANTIZER} RTN, beta {DEMO_BETA}, d = {DEMO_LEVELS}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_file, dpi=110)
