"""Result records: `GemmResult` (one row per GEMM x design x bits x strategy) and totals.

Units are in the field names: *_cycles in clock cycles, *_bytes in bytes, *_pj in picojoules,
*_um2 in square micrometres, *_per_cycle per clock cycle, latency_us in microseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Optional


@dataclass(frozen=True)
class GemmResult:
    """Everything one simulated GEMM reports. `to_dict()` is one flat results-table row."""

    # metadata
    name: str
    kind: str
    phase: str
    model: str
    hw: str
    M: int
    K: int
    N: int
    M_low: int
    K_low: int
    N_low: int
    strategy: str
    a_bits: int
    w_bits: int
    acc_bits: int
    dataflow: str
    timing: str
    k_scale: str
    rows: int
    cols: int
    # work
    macs: int
    useful_macs: int
    unpack_ratio: float
    passes: int
    # time
    cycles: int
    compute_cycles: int
    stall_cycles: int
    recomb_cycles: int
    recomb_busy_cycles: int
    recomb_ops: int
    folds: int
    bands: int
    fill_cycles: int
    drain_cycles: int
    utilization: float
    mapping_efficiency: float
    latency_us: float
    # traffic
    dram_read_bytes: int
    dram_write_bytes: int
    dram_bytes: int
    sram_bytes: int
    sram_a_read_bytes: int
    sram_a_write_bytes: int
    sram_b_read_bytes: int
    sram_b_write_bytes: int
    sram_c_read_bytes: int
    sram_c_write_bytes: int
    peak_bw_demand_bytes_per_cycle: float
    # exact execution: True/False when checked against the reference, None when not checked
    exact: Optional[bool]
    first_mismatch: Optional[tuple]  # (row, col, expected, got)
    pe_overflows: int
    recomb_overflows: int
    exec_method: str
    # energy and area (empty when not computed)
    energy: dict = field(default_factory=dict)
    area: dict = field(default_factory=dict)
    # data path (imsim.datapath): unpack unit, spilled partials, stored widths
    unpack_ops: int = 0
    unpack_cycles: int = 0
    spilled_outputs: int = 0
    dram_spill_read_bytes: int = 0
    a_stored_bits: int = 0
    b_stored_bits: int = 0
    out_bits: int = 0
    # 'not run' (no execution), 'unchecked' (executed, no original operands to check against),
    # 'exact' or 'mismatch' (checked against imsim.reference.reference_gemm)
    exact_status: str = "not run"
    # quantization and quality (imsim.quality; None for integer operands)
    digits: str = "signmag"
    quantizer: Optional[str] = None
    beta: Optional[float] = None
    levels: Optional[int] = None
    w_levels: Optional[int] = None
    rel_error: Optional[float] = None
    sqnr_db: Optional[float] = None
    max_abs_error: Optional[float] = None
    error_sq: Optional[float] = None
    ref_sq: Optional[float] = None
    # where the operand values come from: real, synthetic or shape-only (imsim.trace.provenance)
    provenance: str = ""

    @property
    def energy_pj(self) -> float:
        return float(self.energy.get("energy_pj", float("nan")))

    @property
    def area_um2(self) -> float:
        return float(self.area.get("area_um2", float("nan")))

    def to_dict(self) -> dict[str, Any]:
        """Flat dict: scalar fields, energy_*_pj and area_*_um2 entries; first_mismatch as text."""
        d: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("energy", "area"):
                continue
            d[f.name] = getattr(self, f.name)
        fm = self.first_mismatch
        d["first_mismatch"] = None if fm is None else f"C[{fm[0]},{fm[1]}]: expected {fm[2]}, got {fm[3]}"
        d.update(self.energy)
        d.update(self.area)
        return d


_SUMMED = ("macs", "useful_macs", "cycles", "compute_cycles", "stall_cycles", "recomb_cycles",
           "recomb_busy_cycles", "recomb_ops", "folds", "bands", "dram_read_bytes", "dram_write_bytes",
           "dram_bytes", "sram_bytes", "sram_a_read_bytes", "sram_a_write_bytes", "sram_b_read_bytes",
           "sram_b_write_bytes", "sram_c_read_bytes", "sram_c_write_bytes", "pe_overflows",
           "recomb_overflows", "latency_us", "unpack_ops", "unpack_cycles", "spilled_outputs",
           "dram_spill_read_bytes")


EXACT_STATUSES = ("not run", "unchecked", "exact", "mismatch")


def total_status(statuses: Iterable[str]) -> str:
    """One exact_status for many GEMMs: 'mismatch' if any, 'exact' if all were checked exact,
    'not run' if none was executed, else 'unchecked' (some executed GEMMs were not checked)."""
    seen = set(statuses)
    if "mismatch" in seen:
        return "mismatch"
    if seen == {"exact"}:
        return "exact"
    if not seen or seen == {"not run"}:
        return "not run"
    return "unchecked"


def totals(results: Iterable[GemmResult]) -> dict[str, Any]:
    """Totals over GEMMs run one after another on the same design: sums of counts, cycles, bytes
    and energies; ratios recomputed from the sums; exact = all checked GEMMs exact (None if none
    was checked), exact_status as `total_status`; peak bandwidth demand = the maximum."""
    rs = list(results)
    out: dict[str, Any] = {"gemms": len(rs)}
    for k in _SUMMED:
        out[k] = sum(getattr(r, k) for r in rs)
    macs, useful, cycles = out["macs"], out["useful_macs"], out["cycles"]
    out["unpack_ratio"] = macs / useful if useful else 1.0
    pes = rs[0].rows * rs[0].cols if rs else 0
    out["utilization"] = useful / (pes * cycles) if pes and cycles else 0.0
    out["peak_bw_demand_bytes_per_cycle"] = max((r.peak_bw_demand_bytes_per_cycle for r in rs), default=0.0)
    ex = [r.exact for r in rs if r.exact is not None]
    out["exact"] = all(ex) if ex else None
    out["exact_status"] = total_status(r.exact_status for r in rs)
    energy_keys = [k for k in (rs[0].energy if rs else {}) if k != "energy_per_useful_mac_pj"]
    for k in energy_keys:
        out[k] = sum(float(r.energy.get(k, 0.0)) for r in rs)
    if "energy_pj" in out:
        out["energy_per_useful_mac_pj"] = out["energy_pj"] / useful if useful else float("nan")
    if rs and rs[0].area:
        out.update(rs[0].area)  # one design: its area, not a sum
    from imsim.quality import aggregate_errors

    out.update(aggregate_errors(rs))  # pooled Frobenius error, mean/max per GEMM
    return out
