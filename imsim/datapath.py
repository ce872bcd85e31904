"""The unpacking and recombination data path of one GEMM on one design (docs/model-memory.md).

Where operands are unpacked, and at what precision each moves and is stored:

- activations (A) are stored in DRAM and SRAM at the width their integers need
  (`stored_bits`: sign + magnitude of max|A|, at least a_bits) and unpacked on chip: the
  unpack unit slices digits out of each A element read from SRAM on its way to the array;
- weights (B) are unpacked offline (`weight_unpack: offline`, default: weights are static, so
  the low-bit B' is stored at w_bits) or, like A, stored packed and sliced on chip
  (`weight_unpack: on_chip`);
- C leaves the design at its output precision `out_bits`: acc_bits when nothing is
  recombined, else wide enough for the exact result (K max|A| max|B|), at most recomb_acc_bits.

The memory model moves every low-bit element of an on-chip-unpacked operand at
stored_bits * (elements stored) / (low-bit elements) bits, so DRAM and SRAM bytes are exactly
those of the stored tensor. No I/O here.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional

import numpy as np

from imsim.unpack import UnpackedGemm, absmax


def stored_bits(max_abs: int, bits: int) -> int:
    """Signed width (bits) holding every integer up to max_abs, at least `bits`."""
    return max(bits, int(max_abs).bit_length() + 1)


def needs_recombination(ug: UnpackedGemm, passes: int) -> bool:
    """True when the array's outputs are not C itself: extra rows/columns or several passes."""
    Mp, _, Np = ug.low_shape
    return Mp > ug.shape[0] or Np > ug.shape[2] or passes > 1


@dataclass(frozen=True)
class DataPath:
    """Where one GEMM's operands are unpacked and the widths they are stored at (bits)."""

    a_stored_bits: int      # A as held in DRAM and SRAM
    b_stored_bits: int      # B as held in DRAM and SRAM (w_bits when unpacked offline)
    a_on_chip: bool         # the unpack unit slices A (A wider than a_bits)
    b_on_chip: bool         # the unpack unit slices B (weight_unpack on_chip, B wider than w_bits)
    out_bits: int           # C as written back
    recombined: bool = True  # the array's outputs are folded into C (else they are C)

    def pass_fields(self, hw: Any, ug: UnpackedGemm) -> dict:
        """PassShape data-path fields: bits per low-bit element moved (exact Fractions) and
        unpack-unit ops per low-bit element (ceil(stored / unpack_in_bits): wider operands
        take several slicing passes)."""
        M, K, N = ug.shape
        Mp, Kp, Np = ug.low_shape
        in_bits = getattr(hw, "unpack_in_bits", 16)
        out: dict = {"out_bits": self.out_bits, "direct": not self.recombined}
        if self.a_on_chip:
            out["a_store_bits"] = Fraction(self.a_stored_bits * M * K, Mp * Kp)
            out["unpack_a"] = -(-self.a_stored_bits // in_bits)
        if self.b_on_chip:
            out["b_store_bits"] = Fraction(self.b_stored_bits * K * N, Kp * Np)
            out["unpack_b"] = -(-self.b_stored_bits // in_bits)
        return out


def _plan_reach(bits: int, *shifts: np.ndarray) -> int:
    """Upper bound on an operand's width from the plan alone (its largest digit shift)."""
    top = max((int(np.max(s)) for s in shifts if np.size(s)), default=0)
    return bits + top


def data_path(hw: Any, ug: UnpackedGemm, passes: int, operands: Optional[tuple] = None) -> DataPath:
    """The data path of `ug` on design `hw`. `operands` = the original integer (A, B); without
    them the stored widths are bounded from the plan's digit shifts."""
    if operands is not None:
        a_st = stored_bits(absmax(np.asarray(operands[0])), hw.a_bits)
        b_st = stored_bits(absmax(np.asarray(operands[1])), hw.w_bits)
    else:
        a_st = _plan_reach(hw.a_bits, ug.plan.row_shift, ug.plan.k_shift)
        b_st = _plan_reach(hw.w_bits, ug.plan.col_shift, ug.plan.k_shift)
    b_chip = getattr(hw, "weight_unpack", "offline") == "on_chip" and b_st > hw.w_bits
    if needs_recombination(ug, passes):
        exact_bits = int(ug.abs_bound).bit_length() + 1
        out_bits = min(hw.recomb_acc_bits, max(hw.acc_bits, exact_bits))
    else:
        out_bits = hw.acc_bits
    return DataPath(a_stored_bits=a_st, b_stored_bits=b_st if b_chip else hw.w_bits,
                    a_on_chip=a_st > hw.a_bits, b_on_chip=b_chip, out_bits=out_bits,
                    recombined=needs_recombination(ug, passes))
