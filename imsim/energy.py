"""Energy of a run (pJ) from its activity counts and a technology table.

Formulas (docs/model-energy-area.md; entries from imsim.tech):
- multiplier   E_mult(a, w) = E_mult8 * (a*w/64)^gamma_E, gamma_E through Horowitz's 8- and 32-bit points
- adder        E_add(n)     = alpha_E * n (least squares through the 8/16/32-bit points)
- shifter      E_shift(i->o) = E_mux2 * mux bits of a left barrel shifter from i to o bits (area.shifter_mux_bits)
- MAC          E_mult(a, w) + E_add(acc); a shift-accumulate MAC adds E_shift(a+w-1 -> acc)
- PE registers macs * (a + w + acc) * E_reg_write  +  cycles * R*C * (a + w + acc) * E_reg_clock
- SRAM access  E64(C) * (f + (1 - f) * word_bits/64), E64(C) = k * C_KiB^q fitted through Horowitz's
               8 KB / 32 KB / 1 MB points, C = one bank (half the buffer when double-buffered);
               writes x sram_write_read_ratio; accesses = bytes / word bytes
- DRAM         bytes * 8 * (midpoint of 1.3-2.6 nJ) / 64
- recombination recomb_ops * (E_add(r) + E_shift(acc -> r) + r * E_reg_write), r = recomb_acc_bits
- timing regs  cycles * (shadow + skew bits) * E_reg_clock + folds * shadow * E_reg_write
               + stream_cycles * skew * E_reg_write (area.timing_register_bits)
- unpack unit  unpack_ops * (E_shift(b window of u bits) + E_add(b) + b * E_reg_write)
- leakage      leakage_power_density * area_um2 * cycles / clock
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from imsim.area import (area_of_design, pe_register_bits, recomb_mux_bits, shift_accumulate_mux_bits,
                        sram_bank_kib, timing_register_bits, unpack_mux_bits, unpack_slice_bits,
                        uses_shift_accumulate)
from imsim.tech import Technology, load_technology


# ---- component energies (pJ per operation) ----
def mult_energy_pj(tech: Technology, a_bits: int, w_bits: int) -> float:
    """Energy (pJ) of one a_bits x w_bits integer multiply."""
    return tech["mult_energy_8b"] * (a_bits * w_bits / 64.0) ** tech.mult_energy_exponent


def add_energy_pj(tech: Technology, bits: int) -> float:
    """Energy (pJ) of one bits-wide add."""
    return tech.add_energy_per_bit_pj * bits


def shifter_energy_pj(tech: Technology, mux_bits: int) -> float:
    """Energy (pJ) of one shift through a barrel shifter of mux_bits 2:1 mux bits (area.shifter_mux_bits)."""
    return tech["mux2_bit_energy"] * mux_bits


def shift_accumulate_extra_pj(tech: Technology, a_bits: int, w_bits: int, acc_bits: int) -> float:
    """Extra energy (pJ) of a MAC that goes through the PE's shift-accumulate shifter."""
    return shifter_energy_pj(tech, shift_accumulate_mux_bits(a_bits, w_bits, acc_bits))


def mac_energy_pj(tech: Technology, a_bits: int, w_bits: int, acc_bits: int,
                  shift_accumulate: bool = False) -> float:
    """Energy (pJ) of one MAC: multiply + accumulate add (+ shifter when shift_accumulate)."""
    energy = mult_energy_pj(tech, a_bits, w_bits) + add_energy_pj(tech, acc_bits)
    if shift_accumulate:
        energy += shift_accumulate_extra_pj(tech, a_bits, w_bits, acc_bits)
    return energy


def sram_read_energy_64b_pj(tech: Technology, capacity_kib: float) -> float:
    """Energy (pJ) of a 64-bit read from an SRAM of capacity_kib KiB (power law fitted to Horowitz)."""
    k, q = tech.sram_energy_fit
    return k * capacity_kib ** q


def sram_access_energy_pj(tech: Technology, capacity_kib: float, word_bytes: int, write: bool = False) -> float:
    """Energy (pJ) of one access of a word_bytes-wide word in a capacity_kib KiB SRAM."""
    f = tech["sram_width_fixed_fraction"]
    energy = sram_read_energy_64b_pj(tech, capacity_kib) * (f + (1.0 - f) * word_bytes * 8 / 64.0)
    return energy * tech["sram_write_read_ratio"] if write else energy


def sram_traffic_energy_pj(tech: Technology, capacity_kib: float, word_bytes: int,
                           read_bytes: int, write_bytes: int) -> float:
    """Energy (pJ) of reading read_bytes and writing write_bytes in whole words of word_bytes."""
    reads = read_bytes / word_bytes
    writes = write_bytes / word_bytes
    return (reads * sram_access_energy_pj(tech, capacity_kib, word_bytes)
            + writes * sram_access_energy_pj(tech, capacity_kib, word_bytes, write=True))


def recomb_op_energy_pj(tech: Technology, acc_bits: int, recomb_acc_bits: int) -> float:
    """Energy (pJ) of one shift-and-add element operation of the recombination unit.

    The lane shifts an acc_bits-wide partial sum into a recomb_acc_bits accumulator and adds it.
    """
    r = recomb_acc_bits
    return (add_energy_pj(tech, r) + shifter_energy_pj(tech, recomb_mux_bits(acc_bits, r))
            + r * tech["reg_bit_write_energy"])


def unpack_op_energy_pj(tech: Technology, in_bits: int, out_bits: int) -> float:
    """Energy (pJ) of one digit produced by the unpack unit: slice an out_bits digit out of an
    in_bits operand, apply its sign, write it to the output register."""
    return (shifter_energy_pj(tech, unpack_mux_bits(in_bits, out_bits)) + add_energy_pj(tech, out_bits)
            + out_bits * tech["reg_bit_write_energy"])


def leakage_energy_pj(tech: Technology, area_um2: float, cycles: int, clock_mhz: float) -> float:
    """Leakage energy (pJ) of area_um2 um^2 over `cycles` cycles at clock_mhz MHz."""
    seconds = cycles / (clock_mhz * 1e6)
    return tech["leakage_power_density"] * area_um2 * seconds * 1e3  # nW * s = 1e3 pJ


@dataclass(frozen=True)
class Activity:
    """Counts of one simulated GEMM run (from the array, memory and recombination models)."""

    macs: int                 # low-bit MACs actually run on the array
    nonzero_macs: int         # MACs with both operands non-zero (used only if hw.zero_skipping)
    cycles: int               # total cycles of the run (leakage, PE register clocking)
    sram_a_read_bytes: int
    sram_a_write_bytes: int
    sram_b_read_bytes: int
    sram_b_write_bytes: int
    sram_c_read_bytes: int
    sram_c_write_bytes: int
    dram_read_bytes: int
    dram_write_bytes: int
    recomb_ops: int           # shift-and-add element operations in the recombination unit
    shift_acc_macs: int = 0   # MACs that used the shift-accumulate path (k_shift != 0)
    useful_macs: int = 0      # M*K*N of the original GEMM (0: unknown)
    unpack_ops: int = 0       # digits produced by the unpack unit
    folds: int = 0            # array folds (each refills the shadow registers once)
    stream_cycles: int = 0    # folds x temporal length (cycles the skew lines shift data)

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not _is_int_like(v) or v < 0:
                raise ValueError(f"Activity.{f.name} = {v!r}: a non-negative integer count")
        if self.nonzero_macs > self.macs:
            raise ValueError(f"Activity.nonzero_macs = {self.nonzero_macs} exceeds macs = {self.macs}")
        if self.shift_acc_macs > self.macs:
            raise ValueError(f"Activity.shift_acc_macs = {self.shift_acc_macs} exceeds macs = {self.macs}")


def _is_int_like(v: Any) -> bool:
    """Python and numpy integers (anything with __index__)."""
    return hasattr(v, "__index__")


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy of a run by part (pJ); energy_pj is the sum of the parts."""

    mac_pj: float
    pe_register_pj: float
    sram_a_pj: float
    sram_b_pj: float
    sram_c_pj: float
    dram_pj: float
    recomb_pj: float
    leakage_pj: float
    energy_pj: float
    energy_per_useful_mac_pj: float  # energy_pj / useful_macs; NaN when useful_macs is 0
    timing_regs_pj: float = 0.0
    unpack_pj: float = 0.0

    def to_dict(self) -> dict[str, float]:
        """Flat dict with result-table names: energy_mac_pj, ..., energy_pj, energy_per_useful_mac_pj."""
        return {
            "energy_mac_pj": self.mac_pj,
            "energy_pe_register_pj": self.pe_register_pj,
            "energy_sram_a_pj": self.sram_a_pj,
            "energy_sram_b_pj": self.sram_b_pj,
            "energy_sram_c_pj": self.sram_c_pj,
            "energy_dram_pj": self.dram_pj,
            "energy_recomb_pj": self.recomb_pj,
            "energy_timing_regs_pj": self.timing_regs_pj,
            "energy_unpack_pj": self.unpack_pj,
            "energy_leakage_pj": self.leakage_pj,
            "energy_pj": self.energy_pj,
            "energy_per_useful_mac_pj": self.energy_per_useful_mac_pj,
        }


def energy_of_run(hw: Any, activity: Activity, tech: Technology | None = None,
                  timing: str = "pipelined", area: Any = None) -> EnergyBreakdown:
    """Energy (pJ) of a run of design `hw` (HwConfig-like) with the given activity counts.

    MAC energy counts nonzero_macs instead of macs when hw.zero_skipping (the multiplier and
    adder are gated; operands still move through the PE registers). The shift-accumulate extra
    is charged to shift_acc_macs (scaled by nonzero/macs under zero-skipping) when
    hw.k_scale == "shift_accumulate". `tech` defaults to load_technology(hw.technology).
    `area`: the design's area_of_design(hw, tech, timing) if the caller has it (for leakage).
    """
    tech = tech if tech is not None else load_technology(hw.technology)
    a, w, acc = hw.a_bits, hw.w_bits, hw.acc_bits
    act = activity

    run_macs: float = act.macs
    shift_macs: float = act.shift_acc_macs
    if getattr(hw, "zero_skipping", False):
        run_macs = act.nonzero_macs
        shift_macs = act.shift_acc_macs * (act.nonzero_macs / act.macs) if act.macs else 0.0
    mac = run_macs * mac_energy_pj(tech, a, w, acc)
    if uses_shift_accumulate(hw):
        mac += shift_macs * shift_accumulate_extra_pj(tech, a, w, acc)

    reg_bits = pe_register_bits(a, w, acc)
    pe_reg = (act.macs * reg_bits * tech["reg_bit_write_energy"]
              + act.cycles * hw.rows * hw.cols * reg_bits * tech["reg_bit_clock_energy"])

    word = hw.sram_word_bytes
    sram_a = sram_traffic_energy_pj(tech, sram_bank_kib(hw, hw.sram_a_kib), word, act.sram_a_read_bytes,
                                    act.sram_a_write_bytes)
    sram_b = sram_traffic_energy_pj(tech, sram_bank_kib(hw, hw.sram_b_kib), word, act.sram_b_read_bytes,
                                    act.sram_b_write_bytes)
    sram_c = sram_traffic_energy_pj(tech, sram_bank_kib(hw, hw.sram_c_kib), word, act.sram_c_read_bytes,
                                    act.sram_c_write_bytes)
    dram = (act.dram_read_bytes + act.dram_write_bytes) * 8 * tech.dram_energy_per_bit_pj
    recomb = act.recomb_ops * recomb_op_energy_pj(tech, hw.acc_bits, hw.recomb_acc_bits)
    area = area if area is not None else area_of_design(hw, tech, timing)
    leakage = leakage_energy_pj(tech, area.area_um2, act.cycles, hw.clock_mhz)
    shadow, skew = timing_register_bits(hw.rows, hw.cols, a, w, acc, getattr(hw, "dataflow", "os"), timing)
    regs = (act.cycles * (shadow + skew) * tech["reg_bit_clock_energy"]
            + (act.folds * shadow + act.stream_cycles * skew) * tech["reg_bit_write_energy"])
    unpack = act.unpack_ops * unpack_op_energy_pj(tech, getattr(hw, "unpack_in_bits", 16), unpack_slice_bits(hw))

    parts = (mac, pe_reg, sram_a, sram_b, sram_c, dram, recomb, leakage, regs, unpack)
    total = math.fsum(parts)
    per_useful = total / act.useful_macs if act.useful_macs else math.nan
    return EnergyBreakdown(mac_pj=mac, pe_register_pj=pe_reg, sram_a_pj=sram_a, sram_b_pj=sram_b,
                           sram_c_pj=sram_c, dram_pj=dram, recomb_pj=recomb, leakage_pj=leakage,
                           energy_pj=total, energy_per_useful_mac_pj=per_useful,
                           timing_regs_pj=regs, unpack_pj=unpack)


__all__ = [
    "Activity", "EnergyBreakdown", "energy_of_run", "mac_energy_pj", "mult_energy_pj", "add_energy_pj",
    "shifter_energy_pj", "shift_accumulate_extra_pj", "sram_read_energy_64b_pj", "sram_access_energy_pj",
    "sram_traffic_energy_pj", "recomb_op_energy_pj", "unpack_op_energy_pj", "leakage_energy_pj",
]
