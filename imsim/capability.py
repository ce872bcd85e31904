"""What a design has against what a GEMM needs: plain designs refuse GEMMs that need unpacking.

A design says what it has: `k_scale: none` (no shift-accumulate shifter in the PEs),
`recomb_lanes: 0` (no recombination unit), `unpack_lanes: 0` (no unpack unit). A *plain*
design has none of them and runs only GEMMs whose operands fit a_bits / w_bits. A GEMM needs:
- the recombination unit when it has extra rows/columns or several K scale passes;
- a K-scale mechanism (shift_accumulate or scale_passes) when a K line carries a shift;
- the unpack unit when an operand stored wider than the MAC width is sliced on chip.
`check_design` raises UserError (exit 2) naming the GEMM, its heavy hitters and the keys to
change. No I/O here.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from imsim.errors import UserError
from imsim.quantize import qmax
from imsim.unpack import UnpackedGemm


def missing(hw: Any, ug: UnpackedGemm, passes: int, dp: Any) -> list[tuple[str, str]]:
    """[(what the GEMM needs, the key that provides it)] the design lacks; empty if it runs."""
    Mp, _, Np = ug.low_shape
    out = []
    if hw.k_scale == "none" and np.any(np.asarray(ug.plan.k_shift) != 0):
        out.append(("K-axis scales", "k_scale=shift_accumulate|scale_passes"))
    if hw.recomb_lanes == 0 and (Mp > ug.shape[0] or Np > ug.shape[2] or passes > 1):
        out.append(("recombination of extra rows/columns/passes", "recomb_lanes>=1"))
    if getattr(hw, "unpack_lanes", 1) == 0 and (dp.a_on_chip or dp.b_on_chip):
        out.append(("on-chip unpacking of operands wider than the MACs", "unpack_lanes>=1"))
    return out


def _heavy(name: str, X: np.ndarray, bits: int) -> str:
    """'A: 12 entries outside +-127 (max |x| 900 at A[3,17])' or '' when X fits."""
    X = np.asarray(X)
    bad = np.abs(X) > qmax(bits)
    n = int(np.count_nonzero(bad))
    if not n:
        return ""
    i, j = (int(v) for v in np.unravel_index(int(np.argmax(np.abs(X))), X.shape))
    return (f"{name} has {n} heavy hitter(s) outside the {bits}-bit range +-{qmax(bits)} "
            f"(max |x| {abs(int(X[i, j]))} at {name}[{i},{j}])")


def check_design(hw: Any, ug: UnpackedGemm, passes: int, dp: Any, name: str = "gemm",
                 operands: Optional[tuple] = None) -> None:
    """UserError unless design `hw` has every unit GEMM `ug` (unpacked, `passes` array passes)
    needs; the message names the heavy hitters and the keys to change."""
    lack = missing(hw, ug, passes, dp)
    if not lack:
        return
    if operands is not None:
        heavy = "; ".join(h for h in (_heavy("A", operands[0], hw.a_bits),
                                      _heavy("B", operands[1], hw.w_bits)) if h)
    else:
        Mp, Kp, Np = ug.low_shape
        heavy = f"unpacked to {Mp}x{Kp}x{Np} from {'x'.join(map(str, ug.shape))}"
    needs = ", ".join(w for w, _ in lack)
    keys = ", ".join(k for _, k in lack)
    raise UserError(
        f"{name}: design '{hw.name}' (k_scale {hw.k_scale}, recomb_lanes {hw.recomb_lanes}, "
        f"unpack_lanes {getattr(hw, 'unpack_lanes', 0)}) cannot run this GEMM: {heavy or 'it needs unpacking'}; "
        f"it needs {needs}: set {keys}, or widen a_bits/w_bits until the operands fit")
