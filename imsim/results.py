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


class RunningTotals:
    """Totals of GEMMs added one at a time, in constant memory (a trace streams through it).

    `add(result)` per GEMM; `value()` gives the dict `totals()` documents."""

    def __init__(self) -> None:
        self.gemms = 0
        self._sums: dict[str, float] = dict.fromkeys(_SUMMED, 0)
        self._energy: dict[str, float] = {}
        self._area: dict[str, Any] = {}
        self._pes = 0
        self._peak = 0.0
        self._executed = 0
        self._all_exact = True
        self._statuses: set[str] = set()
        self._errors: list[tuple] = []

    def add(self, r: GemmResult) -> None:
        if not self.gemms:
            self._pes = r.rows * r.cols
            self._energy = dict.fromkeys((k for k in r.energy if k != "energy_per_useful_mac_pj"), 0.0)
            self._area = dict(r.area)  # one design: its area, not a sum
        self.gemms += 1
        for k in _SUMMED:
            self._sums[k] += getattr(r, k)
        for k in self._energy:
            self._energy[k] += float(r.energy.get(k, 0.0))
        self._peak = max(self._peak, r.peak_bw_demand_bytes_per_cycle)
        if r.exact is not None:
            self._executed += 1
            self._all_exact = self._all_exact and bool(r.exact)
        self._statuses.add(r.exact_status)
        if getattr(r, "error_sq", None) is not None and getattr(r, "ref_sq", None) is not None:
            self._errors.append((r.error_sq, r.ref_sq, r.rel_error, r.max_abs_error))  # 4 numbers a GEMM

    def value(self) -> dict[str, Any]:
        out: dict[str, Any] = {"gemms": self.gemms, **self._sums}
        macs, useful, cycles = out["macs"], out["useful_macs"], out["cycles"]
        out["unpack_ratio"] = macs / useful if useful else 1.0
        out["utilization"] = useful / (self._pes * cycles) if self._pes and cycles else 0.0
        out["peak_bw_demand_bytes_per_cycle"] = self._peak
        out["exact"] = self._all_exact if self._executed else None
        out["exact_status"] = total_status(self._statuses)
        out.update(self._energy)
        if "energy_pj" in out:
            out["energy_per_useful_mac_pj"] = out["energy_pj"] / useful if useful else float("nan")
        out.update(self._area)
        if self._errors:
            from imsim.quality import aggregate_errors

            keys = ("error_sq", "ref_sq", "rel_error", "max_abs_error")
            out.update(aggregate_errors(dict(zip(keys, e)) for e in self._errors))  # pooled, mean/max per GEMM
        return out


def totals(results: Iterable[GemmResult]) -> dict[str, Any]:
    """Totals over GEMMs run one after another on the same design: sums of counts, cycles, bytes
    and energies; ratios recomputed from the sums; exact = all checked GEMMs exact (None if none
    was checked), exact_status as `total_status`; peak bandwidth demand = the maximum."""
    acc = RunningTotals()
    for r in results:
        acc.add(r)
    return acc.value()


class GroupedTotals:
    """RunningTotals per (kind, phase), in first-seen order, and over everything: the summary of
    a long trace on one screen (a training step has a handful of kinds in two phases)."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str], RunningTotals] = {}
        self.total = RunningTotals()

    def add(self, r: GemmResult) -> None:
        self.groups.setdefault((r.kind, r.phase), RunningTotals()).add(r)
        self.total.add(r)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per (kind, phase): kind, phase and the group's totals."""
        return [{"kind": kind, "phase": phase, **acc.value()} for (kind, phase), acc in self.groups.items()]
