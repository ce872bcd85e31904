"""Area of a design (um^2): PE array, SRAM buffers, recombination unit.

Formulas (docs/model-energy-area.md; entries from a technology table, imsim.tech):
- multiplier   A_mult(a, w) = A_mult8 * (a*w/64)^gamma_A, gamma_A through Horowitz's 8- and 32-bit points
- adder        A_add(n)     = alpha_A * n (alpha_A: least squares through the 8/16/32-bit points)
- register     A_reg(n)     = n * A_dff
- shifter      A_shift(i->o) = A_mux2 * sum_j min(o, i + 2^(j+1) - 1), j < ceil(log2 o)
               (left barrel shifter from i to o bits; see shifter_mux_bits)
- MAC          A_mult(a, w) + A_add(acc) [+ A_shift(a+w-1 -> acc) with shift-accumulate]
- PE           MAC + A_reg(a + w + acc)
- SRAM buffer  KiB * 8192 * A_bitcell / efficiency (sram_*_kib is the whole buffer, both slots
               when double-buffered, as in imsim.memory; no extra copy)
- recombination lanes * (A_add(r) + A_shift(acc -> r) + A_reg(r)), r = recomb_acc_bits
               (recomb_lanes 0: none)
- timing regs  A_reg(shadow + skew bits) of what the timing mode assumes (timing_register_bits)
- unpack unit  unpack_lanes * (A_shift(b window of u bits) + A_add(b) + A_reg(u + b)),
               u = unpack_in_bits, b = the widest operand it slices (unpack_lanes 0: none)
"""
from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

from imsim.errors import UserError, bad_value
from imsim.tech import Technology, load_technology

BITS_PER_KIB = 8 * 1024
MAX_ARRAY_DIM = 4096


# ---- structure shared with the energy model ----
def product_bits(a_bits: int, w_bits: int) -> int:
    """Width (bits) of a signed a x w product of symmetric-range operands."""
    return a_bits + w_bits - 1


def pe_register_bits(a_bits: int, w_bits: int, acc_bits: int) -> int:
    """Register bits in one PE: the A operand, the B operand and the accumulator."""
    return a_bits + w_bits + acc_bits


def shifter_mux_bits(in_bits: int, out_bits: int) -> int:
    """2:1 mux bits of a left barrel shifter taking an in_bits value into an out_bits register.

    It shifts by any amount 0 .. out_bits - 1 (whatever the unpacking asks for; bits shifted past
    out_bits are the accumulator's overflow), so it has ceil(log2(out_bits)) stages. Stage j shifts
    by 2^j and needs muxes only for the bits a value can occupy after it,
    min(out_bits, in_bits + 2^(j+1) - 1). Never decreases when in_bits or out_bits grows.
    """
    stages = max(out_bits - 1, 0).bit_length()  # = ceil(log2(out_bits))
    return sum(min(out_bits, in_bits + 2 ** (j + 1) - 1) for j in range(stages))


def shift_accumulate_mux_bits(a_bits: int, w_bits: int, acc_bits: int) -> int:
    """Mux bits of the PE shifter for acc += (a*w) << t: product width -> accumulator width."""
    return shifter_mux_bits(product_bits(a_bits, w_bits), acc_bits)


def recomb_mux_bits(acc_bits: int, recomb_acc_bits: int) -> int:
    """Mux bits of a recombination lane's shifter: PE partial sums (acc_bits) -> recomb_acc_bits."""
    return shifter_mux_bits(acc_bits, recomb_acc_bits)


def uses_shift_accumulate(hw: Any) -> bool:
    return getattr(hw, "k_scale", "shift_accumulate") == "shift_accumulate"


def timing_register_bits(rows: int, cols: int, a_bits: int, w_bits: int, acc_bits: int,
                         dataflow: str, timing: str) -> tuple[int, int]:
    """(shadow, skew) register bits the array needs beyond a + w + acc per PE (docs/model-array.md).

    Counted as the reference RTL (imsim/rtl/verilog) builds them; L = ceil(log2 rows).
    shadow (written once per fold): `pipelined` overlaps a fold with the next one's fill, so every
    PE holds a second copy of its stationary value: os a shadow output register (acc_bits) the
    finished sum is copied into while the accumulator starts the next fold; ws a second weight
    register plus a select bit (w_bits + 1); is a second input register plus a select bit
    (a_bits + 1). `scalesim` runs ws/is folds back to back with the preload exposed (no shadow).
    Its os count has no drain: the reference RTL gives every PE its own output port instead; the
    model charges the shadow output register for it (conservative).
    skew (written every streaming cycle): triangular delay lines that skew the streamed inputs by
    one cycle per row / column and deskew the outputs: R(R-1)/2 lines on the left edge for the
    operand streamed along the rows, C(C-1)/2 on the top edge for os's B, C(C-1)/2 output lines at
    acc_bits (the RTL needs none: conservative); the control the RTL carries: 2 tag bits per PE
    and per left-edge skew stage, for ws/is the column-skewed preload of the stationary operand
    (C(C-1)/2 x (stationary + 1 + L)), for pipelined os a drain counter and flag per column (L + 1).
    """
    stationary = {"os": acc_bits, "ws": w_bits, "is": a_bits}[dataflow]
    log_r = max(1, (rows - 1).bit_length())
    tri_r, tri_c = rows * (rows - 1) // 2, cols * (cols - 1) // 2
    if timing == "pipelined":
        shadow = rows * cols * (stationary if dataflow == "os" else stationary + 1)
    else:
        shadow = rows * cols * stationary if dataflow == "os" else 0
    left = {"os": a_bits, "ws": a_bits, "is": w_bits}[dataflow]
    skew = tri_r * left + tri_c * acc_bits + (tri_c * w_bits if dataflow == "os" else 0)
    skew += 2 * rows * cols + 2 * tri_r  # tags: valid / last per PE and per left-edge stage
    if dataflow == "os":
        skew += cols * (log_r + 1) if timing == "pipelined" else 0
    else:
        skew += tri_c * (stationary + 1 + log_r)
    return shadow, skew


def unpack_slice_bits(hw: Any) -> int:
    """Width (bits) of the digits the unpack unit produces: a_bits, or the wider of a_bits and
    w_bits when weights are unpacked on chip too."""
    if getattr(hw, "weight_unpack", "offline") == "on_chip":
        return max(hw.a_bits, hw.w_bits)
    return hw.a_bits


def unpack_mux_bits(in_bits: int, out_bits: int) -> int:
    """Mux bits of a digit slicer: a window of out_bits anywhere in an in_bits word (the
    mirror image of a left shifter from out_bits into in_bits)."""
    return shifter_mux_bits(out_bits, in_bits)


def sram_banks(hw: Any) -> int:
    """Banks a buffer is split into: 2 slots when double-buffered, as imsim.memory uses it.

    sram_*_kib is the whole buffer; each slot is its own bank of sram_*_kib / banks KiB, which sets
    the energy of an access (imsim.energy). The area counts the whole buffer once.
    """
    return 2 if hw.double_buffered else 1


def sram_bank_kib(hw: Any, kib: float) -> float:
    """Capacity (KiB) of the bank an access of a kib-KiB buffer of `hw` goes to."""
    return kib / sram_banks(hw)


# ---- component areas ----
def mult_area_um2(tech: Technology, a_bits: int, w_bits: int) -> float:
    """Area (um^2) of an a_bits x w_bits integer multiplier."""
    return tech["mult_area_8b"] * (a_bits * w_bits / 64.0) ** tech.mult_area_exponent


def add_area_um2(tech: Technology, bits: int) -> float:
    """Area (um^2) of a bits-wide adder."""
    return tech.add_area_per_bit_um2 * bits


def register_area_um2(tech: Technology, bits: int) -> float:
    """Area (um^2) of a bits-wide register."""
    return tech["reg_bit_area"] * bits


def shifter_area_um2(tech: Technology, mux_bits: int) -> float:
    """Area (um^2) of a barrel shifter of mux_bits 2:1 mux bits (see shifter_mux_bits)."""
    return tech["mux2_bit_area"] * mux_bits


def mac_area_um2(tech: Technology, a_bits: int, w_bits: int, acc_bits: int,
                 shift_accumulate: bool = False) -> float:
    """Area (um^2) of one MAC: multiplier + accumulator adder (+ shifter for shift-accumulate)."""
    area = mult_area_um2(tech, a_bits, w_bits) + add_area_um2(tech, acc_bits)
    if shift_accumulate:
        area += shifter_area_um2(tech, shift_accumulate_mux_bits(a_bits, w_bits, acc_bits))
    return area


def pe_area_um2(tech: Technology, a_bits: int, w_bits: int, acc_bits: int,
                shift_accumulate: bool = False) -> float:
    """Area (um^2) of one PE: its MAC plus operand and accumulator registers."""
    return (mac_area_um2(tech, a_bits, w_bits, acc_bits, shift_accumulate)
            + register_area_um2(tech, pe_register_bits(a_bits, w_bits, acc_bits)))


def sram_area_um2(tech: Technology, kib: float) -> float:
    """Area (um^2) of kib KiB of SRAM (bit cells / array efficiency)."""
    return kib * BITS_PER_KIB * tech["sram_bitcell_area"] / tech["sram_array_efficiency"]


def unpack_lane_area_um2(tech: Technology, in_bits: int, out_bits: int) -> float:
    """Area (um^2) of one unpack lane: digit slicer (in_bits -> out_bits), sign (an out_bits
    conditional negate, costed as an adder) and its input and output registers."""
    return (shifter_area_um2(tech, unpack_mux_bits(in_bits, out_bits)) + add_area_um2(tech, out_bits)
            + register_area_um2(tech, in_bits + out_bits))


def recomb_lane_area_um2(tech: Technology, acc_bits: int, recomb_acc_bits: int) -> float:
    """Area (um^2) of one recombination lane: shifter (acc_bits -> recomb_acc_bits), adder, register."""
    r = recomb_acc_bits
    return add_area_um2(tech, r) + shifter_area_um2(tech, recomb_mux_bits(acc_bits, r)) + register_area_um2(tech, r)


@dataclass(frozen=True)
class AreaBreakdown:
    """Area of a design by part (um^2); area_um2 is the sum of the parts."""

    pe_array_um2: float
    sram_a_um2: float
    sram_b_um2: float
    sram_c_um2: float
    recomb_um2: float
    area_um2: float
    timing_regs_um2: float = 0.0
    unpack_um2: float = 0.0

    def to_dict(self) -> dict[str, float]:
        """Flat dict with result-table names: area_pe_array_um2, ..., area_um2."""
        return {
            "area_pe_array_um2": self.pe_array_um2,
            "area_sram_a_um2": self.sram_a_um2,
            "area_sram_b_um2": self.sram_b_um2,
            "area_sram_c_um2": self.sram_c_um2,
            "area_recomb_um2": self.recomb_um2,
            "area_timing_regs_um2": self.timing_regs_um2,
            "area_unpack_um2": self.unpack_um2,
            "area_um2": self.area_um2,
        }


def area_of_design(hw: Any, tech: Technology | None = None, timing: str = "pipelined") -> AreaBreakdown:
    """Area (um^2) of the design `hw` (a HwConfig or any object with its attributes) built for
    the array timing mode `timing` (its shadow and skew registers, timing_register_bits).

    `tech` defaults to load_technology(hw.technology).
    """
    tech = tech if tech is not None else load_technology(hw.technology)
    pe = pe_area_um2(tech, hw.a_bits, hw.w_bits, hw.acc_bits, uses_shift_accumulate(hw))
    pe_array = hw.rows * hw.cols * pe
    sa = sram_area_um2(tech, hw.sram_a_kib)
    sb = sram_area_um2(tech, hw.sram_b_kib)
    sc = sram_area_um2(tech, hw.sram_c_kib)
    recomb = hw.recomb_lanes * recomb_lane_area_um2(tech, hw.acc_bits, hw.recomb_acc_bits)
    shadow, skew = timing_register_bits(hw.rows, hw.cols, hw.a_bits, hw.w_bits, hw.acc_bits,
                                        getattr(hw, "dataflow", "os"), timing)
    regs = register_area_um2(tech, shadow + skew)
    lanes = getattr(hw, "unpack_lanes", 0)
    unpack = lanes * unpack_lane_area_um2(tech, getattr(hw, "unpack_in_bits", 16), unpack_slice_bits(hw)) \
        if lanes else 0.0
    return AreaBreakdown(pe_array_um2=pe_array, sram_a_um2=sa, sram_b_um2=sb, sram_c_um2=sc,
                         recomb_um2=recomb, timing_regs_um2=regs, unpack_um2=unpack,
                         area_um2=pe_array + sa + sb + sc + recomb + regs + unpack)


def equal_area_array(hw_ref: Any, a_bits: int, w_bits: int, tech: Technology | None = None,
                     acc_bits: int | None = None) -> tuple[int, int]:
    """Largest square array (n, n) of a_bits x w_bits PEs whose design area <= hw_ref's.

    Everything but rows, cols, a_bits, w_bits (and acc_bits if given; else hw_ref's) stays as in
    hw_ref, so the SRAM and recombination areas are unchanged and the PE array gets the rest.
    """
    tech = tech if tech is not None else load_technology(hw_ref.technology)
    acc = hw_ref.acc_bits if acc_bits is None else acc_bits
    if acc < product_bits(a_bits, w_bits):
        raise bad_value(None, "acc_bits", acc, f"at least a_bits + w_bits - 1 = {product_bits(a_bits, w_bits)} "
                        f"for {a_bits}x{w_bits}-bit PEs; pass acc_bits=")
    budget = area_of_design(hw_ref, tech).area_um2

    def fits(n: int) -> bool:
        cand = types.SimpleNamespace(**{f: getattr(hw_ref, f) for f in (
            "technology", "k_scale", "double_buffered", "sram_a_kib", "sram_b_kib", "sram_c_kib",
            "recomb_lanes", "recomb_acc_bits", "dataflow", "unpack_lanes", "unpack_in_bits",
            "weight_unpack") if hasattr(hw_ref, f)}, rows=n, cols=n, a_bits=a_bits, w_bits=w_bits, acc_bits=acc)
        return area_of_design(cand, tech).area_um2 <= budget * (1 + 1e-12)

    if not fits(1):
        raise UserError(f"equal_area_array: even a 1x1 array of {a_bits}x{w_bits}-bit PEs exceeds the "
                        f"reference area {budget:.1f} um^2")
    lo, hi = 1, MAX_ARRAY_DIM
    if fits(hi):
        return hi, hi
    while hi - lo > 1:  # invariant: fits(lo), not fits(hi)
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo, lo
