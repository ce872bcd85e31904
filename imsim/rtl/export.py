"""Write golden vectors (hex + npy) and manifest.json for an RTL testbench.

Files in the export folder (every matrix row-major; hex files in `$readmemh` format, see
imsim.rtl.hexfile; the same arrays as int64 `.npy`):
  a.hex / a.npy        M' x K'        A-side low-bit operands as fed to the array (a_bits, signed)
  b.hex / b.npy        K' x N'        B-side low-bit operands (w_bits, signed)
  psum.hex / psum.npy  P x M' x N'    PE-level results per K pass, before recombination (acc_bits)
  c.hex / c.npy        M x N          final C after recombination (recomb_acc_bits)
  passes.hex           P x 2          k_start, k_len of each K pass (32-bit unsigned)
  plan.npz             recombination plan (row_src, row_shift, col_src, col_shift, k_src, k_shift)
  manifest.json        shapes, widths, signedness, order, dataflow, skew, tile loop, cycles
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from imsim.errors import UserError
from imsim.rtl import cycles
from imsim.rtl.golden import Golden
from imsim.rtl.hexfile import write_hex

FORMAT = "imsim-rtl-golden"
VERSION = 1
PASS_WORD_BITS = 32
VERILOG_DIR = Path(__file__).resolve().parent / "verilog"
ARRAY_SOURCE = VERILOG_DIR / "systolic_os.v"
TB_SOURCE = VERILOG_DIR / "tb_systolic_os.v"

SKEW = ("row i of A enters the left edge of PE row i in cycle k + i, column j of B enters the "
        "top of PE column j in cycle k + j (k = position within the pass, cycle 0 = first feed); "
        "PE (i, j) does its k-th MAC in cycle i + j + k. a.hex/b.hex hold the unskewed "
        "matrices: the reference array skews internally")
DRAIN = ("after the last MAC the accumulators shift down the columns one row per cycle, "
         "bottom row (i = ROWS-1) first; ROWS cycles")
TILE_LOOP = ("for pass p (K positions k_start..k_start+k_len-1), for tile_row tm, for tile_col tn: "
             "one ROWS x COLS tile computing psum[p, tm*ROWS:(tm+1)*ROWS, tn*COLS:(tn+1)*COLS]; "
             "rows/columns past the GEMM's edge are fed as zeros and their results dropped; "
             "tiles run one after the other, no overlap")


def _entry(name: str, shape: tuple[int, ...], width: int, signed: bool, meaning: str,
           npy: bool = True) -> dict[str, Any]:
    entry: dict[str, Any] = {"hex": f"{name}.hex"}
    if npy:
        entry["npy"] = f"{name}.npy"
    entry.update({"shape": list(shape), "width": width, "signed": signed,
                  "hex_digits": (width + 3) // 4, "order": "row-major", "meaning": meaning})
    return entry


def cycle_block(g: Golden, dataflow: str) -> dict[str, Any]:
    """The manifest's `cycles` entry: per-tile and total expected counts of the reference flow."""
    tm, tn = g.tile_grid
    block: dict[str, Any] = {
        "start_event": cycles.START_EVENT,
        "end_event": cycles.END_EVENT,
        "per_tile": "end - start + 1 cycles of one tile",
        "model": (f"imsim.array.compute_timing(rows, k_len, cols, rows, cols, 'os', "
                  f"'{cycles.TIMING}').cycles per tile (2*rows + cols + k_len - 2); "
                  f"total = sum over the tile loop"),
    }
    if dataflow != "os":
        block.update(expected_total=None, tiles=[],
                     note=f"the reference flow is output-stationary; no cycle count for dataflow {dataflow}")
        return block
    per_pass = [{"pass": p, "k_len": kp.k_len, "tiles": tm * tn,
                 "cycles_per_tile": cycles.tile_cycles(g.rows, g.cols, kp.k_len)}
                for p, kp in enumerate(g.passes)]
    block["passes"] = per_pass
    block["expected_total"] = sum(x["tiles"] * x["cycles_per_tile"] for x in per_pass)
    return block


def build_manifest(g: Golden, dataflow: str, source: dict[str, Any], hw_name: str) -> dict[str, Any]:
    """The manifest.json content for golden vectors `g` (pure)."""
    M, K, N = g.shape
    m, k, n = g.low_shape
    P = len(g.passes)
    tm, tn = g.tile_grid
    return {
        "format": FORMAT,
        "version": VERSION,
        "gemm": {**source, "M": M, "K": K, "N": N},
        "hw": {"name": hw_name, "rows": g.rows, "cols": g.cols, "a_bits": g.a_bits,
               "w_bits": g.w_bits, "acc_bits": g.acc_bits, "recomb_acc_bits": g.c_bits,
               "dataflow": dataflow},
        "unpack": {"strategy": g.strategy, "M_low": m, "K_low": k, "N_low": n,
                   "unpack_ratio": g.unpack_ratio, "k_scale": "scale_passes"},
        "files": {
            "a": _entry("a", (m, k), g.a_bits, True, "A-side low-bit operands as fed to the array"),
            "b": _entry("b", (k, n), g.w_bits, True, "B-side low-bit operands as fed to the array"),
            "psum": _entry("psum", (P, m, n), g.acc_bits, True,
                           "PE-level results (accumulators) per K pass, before recombination"),
            "c": _entry("c", (M, N), g.c_bits, True, "final C = A @ B after recombination"),
            "passes": {**_entry("passes", (P, 2), PASS_WORD_BITS, False,
                                "k_start, k_len of each K pass", npy=False),
                       "columns": ["k_start", "k_len"]},
            "plan": {"npz": "plan.npz", "meaning": "recombination plan: C[row_src[i], col_src[j]] "
                     "+= psum[p, i, j] << (shift_p + row_shift[i] + col_shift[j]); k_src/k_shift "
                     "in grouped K order"},
        },
        "passes": [{"pass": p, "shift_bits": kp.shift_bits, "k_start": kp.k_start, "k_len": kp.k_len}
                   for p, kp in enumerate(g.passes)],
        "array": {"dataflow": "os", "rows": g.rows, "cols": g.cols, "a_bits": g.a_bits,
                  "w_bits": g.w_bits, "acc_bits": g.acc_bits, "accumulator": "signed, wraps",
                  "skew": SKEW, "drain": DRAIN},
        "tile_loop": {"order": TILE_LOOP, "tile_rows": tm, "tile_cols": tn, "passes": P,
                      "tiles": P * tm * tn},
        "cycles": cycle_block(g, dataflow),
        "recombination": "C = recombine(sum_p psum[p] << shift_p, plan): C[row_src[i], col_src[j]] "
                         "+= P[i, j] << (row_shift[i] + col_shift[j])",
        "testbench": {
            "sources": [ARRAY_SOURCE.name, TB_SOURCE.name],
            "parameters": {"ROWS": g.rows, "COLS": g.cols, "A_W": g.a_bits, "B_W": g.w_bits,
                           "ACC_W": g.acc_bits, "M": m, "K": k, "N": n, "NPASS": P},
            "results": "results.hex (P x M' x N', acc_bits, compare with psum)",
        },
    }


def write_golden(g: Golden, out_dir: str | Path, dataflow: str, source: dict[str, Any],
                 hw_name: str) -> dict[str, Any]:
    """Write all files of the export into `out_dir` (created if needed); return the manifest."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {str(out)!r}: cannot create folder: {exc.strerror}") from None
    manifest = build_manifest(g, dataflow, source, hw_name)
    arrays = {"a": (g.A, g.a_bits), "b": (g.B, g.w_bits), "psum": (g.psum, g.acc_bits),
              "c": (g.C, g.c_bits)}
    for name, (arr, width) in arrays.items():
        write_hex(out / f"{name}.hex", arr, width)
        np.save(out / f"{name}.npy", np.asarray(arr, dtype=np.int64))
    pass_words = [v for kp in g.passes for v in (kp.k_start, kp.k_len)]
    write_hex(out / "passes.hex", pass_words, PASS_WORD_BITS, signed=False)
    plan = g.plan
    np.savez(out / "plan.npz", row_src=plan.row_src, row_shift=plan.row_shift, col_src=plan.col_src,
             col_shift=plan.col_shift, k_src=g.k_src,
             k_shift=np.repeat([kp.shift_bits for kp in g.passes], [kp.k_len for kp in g.passes]))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
