"""Worked example for docs/model-energy-area.md: a 32x32 int8 design vs a 32x32 int4 design and an
equal-area int4 design, running the same real GEMM through the whole pipeline
(quantize -> unpack -> simulate_gemm with exact execution, energy and area).

Two scenarios, each printed as markdown tables (the doc pastes this output unchanged):

1. same integer GEMM: RTN 8-bit (beta 1.0, per tensor) operands, run as-is on int8 (strategy none)
   and IM-Unpacked (strategy auto) on the int4 designs. All three compute the identical exact
   result: a pure hardware comparison.
2. IM-Unpack style: int8 keeps RTN 8-bit beta 1.0; the int4 designs get RTN 4-bit beta 0.99
   operands (the top 1 % of |x| become heavy hitters above the 4-bit range), unpacked with auto.
   Precision differs, so the table also gives each run's error against the float GEMM.

Quantization uses imsim's `symmetric` quantizer (alpha lands on 2^(b-1) - 1), not the paper's
default, so the int8 operands at beta 1.0 fit the 8-bit range and run without unpacking.

Throughput per area: useful MACs / (cycles / clock_hz) / (area_um2 * 1e-6) / 1e9, in GMAC/s/mm^2
(useful MACs = M*K*N of the original GEMM, cycles include stalls and recombination).

    python experiments/worked_example_energy.py [--record NAME] [--hw hw_configs/default.yaml] [--acc-bits 32]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import imsim
from imsim.area import equal_area_array
from imsim.hwconfig import load_hw_config
from imsim.quantize import quantize_rtn
from imsim.simulate import simulate_gemm
from imsim.trace import bundled_trace_path, open_trace
from imsim.unpack import unpack_gemm

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECORD = "encoder.layer.0.attention.self.query"
DEFAULT_HW = "hw_configs/default.yaml"
TIMING = "pipelined"

# (scenario key, title, quantization of the int8 design, quantization of the int4 designs)
# a quantization is (bits, beta); RTN per tensor, round to nearest (half to even), no seed needed
SCENARIOS = (
    ("same", "Scenario 1: the same integer GEMM (RTN 8-bit, beta 1.0) on all three designs",
     (8, 1.0), (8, 1.0)),
    ("imunpack", "Scenario 2: IM-Unpack style (int8: RTN 8-bit beta 1.0; int4: RTN 4-bit beta 0.99)",
     (8, 1.0), (4, 0.99)),
)


@dataclass(frozen=True)
class Design:
    label: str
    hw: Any  # imsim.hwconfig.HwConfig


@dataclass
class Row:
    design: Design
    quant: tuple[int, float]
    result: dict[str, Any]
    rel_err_vs_float: float
    gmacs_per_mm2: float = field(init=False)

    def __post_init__(self) -> None:
        r = self.result
        seconds = r["cycles"] / self.design.hw.clock_hz
        self.gmacs_per_mm2 = r["useful_macs"] / seconds / (r["area_um2"] * 1e-6) / 1e9


def build_designs(hw_path: str | Path = DEFAULT_HW, acc_bits: int = 32) -> list[Design]:
    """int8 reference (hw_path with acc_bits), int4 of the same rows x cols, and the largest square
    int4 array whose design area is <= the reference's (same SRAM, recombination unit, acc_bits)."""
    ref = load_hw_config(Path(hw_path) if Path(hw_path).is_absolute() else ROOT / hw_path,
                         {"acc_bits": acc_bits})
    ref = ref.replace(name=f"int8_{ref.rows}x{ref.cols}")
    int4 = ref.replace(a_bits=4, w_bits=4, name=f"int4_{ref.rows}x{ref.cols}")
    n_r, n_c = equal_area_array(ref, 4, 4, acc_bits=acc_bits)
    eq = ref.replace(a_bits=4, w_bits=4, rows=n_r, cols=n_c, name=f"int4_{n_r}x{n_c}_equal_area")
    return [Design(f"int8 {ref.rows}x{ref.cols}", ref), Design(f"int4 {ref.rows}x{ref.cols}", int4),
            Design(f"int4 {n_r}x{n_c} (equal area)", eq)]


def _rel_err(qa, qb, C_int: np.ndarray, C_float: np.ndarray) -> float:
    deq = C_int.astype(np.float64) / (qa.scale * qb.scale)
    return float(np.linalg.norm(deq - C_float) / np.linalg.norm(C_float))


def run_scenarios(A: np.ndarray, B: np.ndarray, name: str, designs: Sequence[Design],
                  scenarios=SCENARIOS) -> dict[str, list[Row]]:
    """Run every scenario on every design; returns {scenario key: [Row per design]}."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    C_float = A @ B
    out: dict[str, list[Row]] = {}
    cache: dict[tuple, tuple] = {}
    for key, _title, q8, q4 in scenarios:
        rows = []
        for d in designs:
            quant = q8 if d.hw.a_bits == 8 else q4
            if quant not in cache:
                # imsim's symmetric quantizer (alpha -> 2^(b-1) - 1) so int8 at beta 1.0 runs as-is
                qa = quantize_rtn(A, quant[0], quant[1], name="A", quantizer="symmetric")
                qb = quantize_rtn(B, quant[0], quant[1], name="B", quantizer="symmetric")
                cache[quant] = (qa, qb, _rel_err(qa, qb, qa.q @ qb.q, C_float))
            qa, qb, err = cache[quant]
            strategy = "none" if d.hw.a_bits == 8 else "auto"  # int8 runs as-is, int4 unpacks
            ug = unpack_gemm(qa.q, qb.q, d.hw.a_bits, d.hw.w_bits, strategy)
            res = simulate_gemm(d.hw, ug, timing=TIMING, execute=True,
                                meta={"name": name, "kind": "linear", "phase": "fwd"}, operands=(qa.q, qb.q))
            rows.append(Row(d, quant, res.to_dict(), err))
        out[key] = rows
    return out


def _g(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}g}"


def format_tables(results: dict[str, list[Row]], scenarios=SCENARIOS) -> str:
    lines: list[str] = []
    for key, title, _q8, _q4 in scenarios:
        rows = results[key]
        lines += [f"### {title}", "",
                  "| design | rows x cols | bits (a x w) | operands | strategy | unpack_ratio | cycles | energy_pj "
                  "| area_um2 | energy_per_useful_mac_pj | GMAC/s/mm^2 | rel. error vs float | exact |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            d, hw = r.result, r.design.hw
            lines.append(
                f"| {r.design.label} | {hw.rows} x {hw.cols} | {hw.a_bits} x {hw.w_bits} "
                f"| RTN {r.quant[0]}-bit beta {r.quant[1]} | {d['strategy']} | {d['unpack_ratio']:.4f} "
                f"| {d['cycles']} | {d['energy_pj']:.4g} | {d['area_um2']:.4g} "
                f"| {d['energy_per_useful_mac_pj']:.4f} | {r.gmacs_per_mm2:.2f} | {r.rel_err_vs_float:.2e} "
                f"| {d['exact']} |")
        lines += ["", f"Energy breakdown (pJ; share of energy_pj), {key}:", "",
                  "| design | mac | pe_register | sram (a+b+c) | dram | recomb | unpack | timing regs | leakage "
                  "| total |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            d = r.result
            tot = d["energy_pj"]
            sram = d["energy_sram_a_pj"] + d["energy_sram_b_pj"] + d["energy_sram_c_pj"]
            parts = [d["energy_mac_pj"], d["energy_pe_register_pj"], sram, d["energy_dram_pj"],
                     d["energy_recomb_pj"], d["energy_unpack_pj"], d["energy_timing_regs_pj"],
                     d["energy_leakage_pj"]]
            cells = " | ".join(f"{p:.4g} ({100 * p / tot:.1f}%)" for p in parts)
            lines.append(f"| {r.design.label} | {cells} | {tot:.4g} |")
        lines.append("")
    return "\n".join(lines)


def load_record(name: str):
    trace = open_trace(bundled_trace_path())
    for rec in trace:
        if rec.name == name and rec.phase == "fwd":
            return rec
    raise SystemExit(f"no forward record named {name!r} in {bundled_trace_path().name}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", default=DEFAULT_RECORD, help="forward GEMM of the bundled trace")
    ap.add_argument("--hw", default=DEFAULT_HW, help="int8 reference design")
    ap.add_argument("--acc-bits", type=int, default=32, help="PE accumulator of all three designs")
    args = ap.parse_args(argv)
    rec = load_record(args.record)
    A, B = rec.arrays()
    designs = build_designs(args.hw, args.acc_bits)
    results = run_scenarios(A, B, rec.name, designs)
    M, K, N = rec.shape
    print(f"GEMM: `{rec.name}` ({rec.kind}, {rec.phase}, {rec.model}) from the bundled trace "
          f"`{bundled_trace_path().name}`: M x K x N = {M} x {K} x {N} = {M * K * N} useful MACs. "
          f"imsim {imsim.__version__}, timing `{TIMING}`, technology `{designs[0].hw.technology}`, "
          f"acc_bits {args.acc_bits}, design base `{args.hw}` (dataflow {designs[0].hw.dataflow}, "
          f"{designs[0].hw.clock_mhz:g} MHz).")
    print()
    print(format_tables(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
