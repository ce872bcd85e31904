"""Write golden vectors (hex + npy) and manifest.json for an RTL testbench.

Files in the export folder (every matrix row-major; hex files in `$readmemh` format, see
imsim.rtl.hexfile; the same arrays as int64 `.npy`):
  a.hex / a.npy        M' x K'        A-side low-bit operands as fed to the array (a_bits, signed)
  b.hex / b.npy        K' x N'        B-side low-bit operands (w_bits, signed)
  psum.hex / psum.npy  P x M' x N'    PE-level results per K pass, before recombination (acc_bits)
  c.hex / c.npy        M x N          final C after recombination (recomb_acc_bits)
  passes.hex           P x 2          k_start, k_len of each K pass (32-bit unsigned)
  jobs.hex             J x 7          pass, m0, m1, k0, k1, n0, n1 of each array job (imsim.rtl.cycles)
  pass_shift.hex       P              K shift of each pass (bits, 32-bit unsigned)
  row_src.hex, row_shift.hex  M'      destination row of C and its shift (bits) per low-bit row
  col_src.hex, col_shift.hex  N'      destination column of C and its shift per low-bit column
  plan.npz             recombination plan (row_src, row_shift, col_src, col_shift, k_src, k_shift)
  manifest.json        shapes, widths, signedness, order, dataflow, skew, jobs, cycles
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
VERSION = 2
WORD_BITS = 32
VERILOG_DIR = Path(__file__).resolve().parent / "verilog"
DELAY_SOURCE = VERILOG_DIR / "delay.v"
ARRAY_SOURCES = {df: (VERILOG_DIR / name, DELAY_SOURCE)
                 for df, name in (("os", "array_os.v"), ("ws", "array_stat.v"), ("is", "array_stat.v"))}
TB_SOURCE = VERILOG_DIR / "tb_imsim.v"
RECOMB_SOURCE = VERILOG_DIR / "recomb.v"
RECOMB_TB_SOURCE = VERILOG_DIR / "tb_recomb.v"
DATAFLOW_CODE = {"os": 0, "ws": 1, "is": 2}

SKEW = {
    "os": ("row i of A enters the left edge of PE row i in cycle k + i, column j of B the top of "
           "PE column j in cycle k + j (k = feed cycle within the fold); PE (i, j) does its k-th MAC "
           "in cycle i + j + k. a.hex/b.hex hold the unskewed matrices: the array skews internally"),
    "ws": ("load: row ROWS-1-r of the B block enters the top in load step r, column j j cycles "
           "late; stream: A[m, k] enters the left edge of array row k in cycle sigma + m + k; "
           "partial sums move down; C[m, n] leaves the bottom of column n in cycle "
           "sigma + m + ROWS - 1 + n"),
    "is": ("as ws with A and B swapped: the A^T block (K on rows, M on columns) is loaded, "
           "B[k, n] enters array row k in cycle sigma + n + k; C[m, n] leaves the bottom of "
           "column m in cycle sigma + n + ROWS - 1 + m"),
}
OVERLAP = {
    "pipelined": {"os": "shadow output register per PE (ACC_W bits); folds start every max(T, ROWS) cycles",
                  "ws": "second stationary register per PE (w_bits) + 1 select bit; folds start every max(T, ROWS) cycles",
                  "is": "second stationary register per PE (a_bits) + 1 select bit; folds start every max(T, ROWS) cycles"},
    "scalesim": {"os": "none: folds back to back, every ROWS + COLS + T - 2 cycles; each PE writes "
                       "its result through its own port in the cycle of its last MAC (SCALE-Sim 3.0.0)",
                 "ws": "none: one stationary register; folds every 2 ROWS + COLS + T - 2 cycles",
                 "is": "none: one stationary register; folds every 2 ROWS + COLS + T - 2 cycles"},
}


def _entry(name: str, shape: tuple[int, ...], width: int, signed: bool, meaning: str,
           npy: bool = True) -> dict[str, Any]:
    entry: dict[str, Any] = {"hex": f"{name}.hex"}
    if npy:
        entry["npy"] = f"{name}.npy"
    entry.update({"shape": list(shape), "width": width, "signed": signed,
                  "hex_digits": (width + 3) // 4, "order": "row-major", "meaning": meaning})
    return entry


def array_jobs(g: Golden, hw, timing: str = "pipelined") -> list[cycles.Job]:
    """The array jobs of golden vectors `g` on design `hw`: per K pass, the temporal bands of
    imsim.memory (band_len) when the memory model times the pass band by band, else the whole
    pass. Chosen so that the jobs' counts add up to imsim.memory's compute_cycles for these
    passes (RuntimeError if neither split does: the two models disagree)."""
    from imsim.memory import MemoryParams, PassShape, band_len, simulate_memory

    m, _, n = g.low_shape
    M, _, N = g.shape
    params = MemoryParams.from_hw(hw)
    shapes = [PassShape(M=m, K=kp.k_len, N=n, base_rows=M if p == 0 else 0,
                        base_cols=N if p == 0 else 0) for p, kp in enumerate(g.passes)]
    k_passes = [(kp.k_start, kp.k_len) for kp in g.passes]
    want = simulate_memory(params, shapes, timing=timing).compute_cycles
    banded = cycles.make_jobs(g.low_shape, k_passes, hw.dataflow,
                              [band_len(params, sh) for sh in shapes])
    for jobs in (banded, cycles.make_jobs(g.low_shape, k_passes, hw.dataflow)):
        if sum(cycles.job_cycles(j, g.rows, g.cols, hw.dataflow, timing) for j in jobs) == want:
            return jobs
    raise RuntimeError(f"internal error: no job split of the export matches imsim.memory's "
                       f"compute_cycles {want}")


def cycle_block(g: Golden, hw, timing: str, jobs: list[cycles.Job]) -> dict[str, Any]:
    """The manifest's `cycles` entry: expected counts of the array jobs and the recombination."""
    per_job = [cycles.job_cycles(j, g.rows, g.cols, hw.dataflow, timing) for j in jobs]
    m, _, n = g.low_shape
    M, _, N = g.shape
    return {
        "timing": timing,
        "start_event": cycles.START_EVENT,
        "end_event": cycles.END_EVENT,
        "count": cycles.COUNT_RULE[timing],
        "model": (f"imsim.array.compute_timing(job M, K, N, rows, cols, '{hw.dataflow}', '{timing}')"
                  f".cycles per job; total = sum over jobs = imsim's compute_cycles"),
        "jobs": per_job,
        "expected_total": sum(per_job),
        "recomb_lanes": hw.recomb_lanes,
        "recomb_ops": int(len(g.passes) * m * n - M * N),
        "recomb_expected": cycles.recomb_cycles(len(g.passes), m, n, M, N, hw.recomb_lanes),
        "recomb_model": "ceil(recomb_ops / recomb_lanes) = imsim's recomb_busy_cycles",
    }


def build_manifest(g: Golden, hw, timing: str, source: dict[str, Any],
                   jobs: list[cycles.Job]) -> dict[str, Any]:
    """The manifest.json content for golden vectors `g` (pure)."""
    M, K, N = g.shape
    m, k, n = g.low_shape
    P = len(g.passes)
    df = hw.dataflow
    word = lambda name, shape, meaning: {**_entry(name, shape, WORD_BITS, False, meaning, npy=False)}  # noqa: E731
    return {
        "format": FORMAT,
        "version": VERSION,
        "gemm": {**source, "M": M, "K": K, "N": N},
        "hw": {"name": hw.name, "rows": g.rows, "cols": g.cols, "a_bits": g.a_bits,
               "w_bits": g.w_bits, "acc_bits": g.acc_bits, "recomb_acc_bits": g.c_bits,
               "dataflow": df, "k_scale": hw.k_scale, "recomb_lanes": hw.recomb_lanes},
        "unpack": {"strategy": g.strategy, "M_low": m, "K_low": k, "N_low": n,
                   "unpack_ratio": g.unpack_ratio, "k_scale": "scale_passes",
                   "passes": P},
        "files": {
            "a": _entry("a", (m, k), g.a_bits, True, "A-side low-bit operands as fed to the array"),
            "b": _entry("b", (k, n), g.w_bits, True, "B-side low-bit operands as fed to the array"),
            "psum": _entry("psum", (P, m, n), g.acc_bits, True,
                           "PE-level results (accumulators) per K pass, before recombination"),
            "c": _entry("c", (M, N), g.c_bits, True, "final C = A @ B after recombination"),
            "passes": {**word("passes", (P, 2), "k_start, k_len of each K pass"),
                       "columns": ["k_start", "k_len"]},
            "jobs": {**word("jobs", (len(jobs), 7), "array jobs, run one after the other"),
                     "columns": ["pass", "m0", "m1", "k0", "k1", "n0", "n1"]},
            "pass_shift": word("pass_shift", (P,), "K shift of each pass (bits)"),
            "row_src": word("row_src", (m,), "row of C each low-bit row adds into"),
            "row_shift": word("row_shift", (m,), "shift (bits) of each low-bit row"),
            "col_src": word("col_src", (n,), "column of C each low-bit column adds into"),
            "col_shift": word("col_shift", (n,), "shift (bits) of each low-bit column"),
            "plan": {"npz": "plan.npz", "meaning": "recombination plan: C[row_src[i], col_src[j]] "
                     "+= psum[p, i, j] << (shift_p + row_shift[i] + col_shift[j]); k_src/k_shift "
                     "in grouped K order"},
        },
        "passes": [{"pass": p, "shift_bits": kp.shift_bits, "k_start": kp.k_start, "k_len": kp.k_len}
                   for p, kp in enumerate(g.passes)],
        "array": {"dataflow": df, "timing": timing, "rows": g.rows, "cols": g.cols,
                  "a_bits": g.a_bits, "w_bits": g.w_bits, "acc_bits": g.acc_bits,
                  "accumulator": "signed, wraps", "skew": SKEW[df], "overlap": OVERLAP[timing][df]},
        "jobs": [dict(zip(["pass", "m0", "m1", "k0", "k1", "n0", "n1"], j.words())) for j in jobs],
        "cycles": cycle_block(g, hw, timing, jobs),
        "recombination": ("C[row_src[i], col_src[j]] += psum[p, i, j] << (pass_shift[p] + "
                          "row_shift[i] + col_shift[j]); base elements (p = 0, i < M, j < N) are "
                          "written, every other element is one shift-and-add"),
        "testbench": {
            "sources": [s.name for s in (*ARRAY_SOURCES[df], TB_SOURCE)],
            "top": "tb_imsim",
            "parameters": {"DATAFLOW": DATAFLOW_CODE[df], "OVERLAP": int(timing == "pipelined"),
                           "ROWS": g.rows, "COLS": g.cols, "A_W": g.a_bits, "B_W": g.w_bits,
                           "ACC_W": g.acc_bits, "M": m, "K": k, "N": n, "NPASS": P,
                           "NJOB": len(jobs)},
            "results": "results.hex (P x M' x N', acc_bits, compare with psum)",
        },
        "recomb_testbench": {
            "sources": [RECOMB_SOURCE.name, RECOMB_TB_SOURCE.name],
            "top": "tb_recomb",
            "parameters": {"LANES": max(1, hw.recomb_lanes), "IN_W": g.acc_bits, "OUT_W": g.c_bits,
                           "M": M, "N": N, "ML": m, "NL": n, "NPASS": P},
            "input": "results.hex (the array's PE-level results)",
            "results": "c_results.hex (M x N, recomb_acc_bits, compare with --against c)",
        },
    }


def write_golden(g: Golden, out_dir: str | Path, hw, source: dict[str, Any],
                 timing: str = "pipelined") -> dict[str, Any]:
    """Write all files of the export into `out_dir` (created if needed); return the manifest."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {str(out)!r}: cannot create folder: {exc.strerror}") from None
    jobs = array_jobs(g, hw, timing)
    manifest = build_manifest(g, hw, timing, source, jobs)
    arrays = {"a": (g.A, g.a_bits), "b": (g.B, g.w_bits), "psum": (g.psum, g.acc_bits),
              "c": (g.C, g.c_bits)}
    for name, (arr, width) in arrays.items():
        write_hex(out / f"{name}.hex", arr, width)
        np.save(out / f"{name}.npy", np.asarray(arr, dtype=np.int64))
    plan = g.plan
    words = {"passes": [v for kp in g.passes for v in (kp.k_start, kp.k_len)],
             "jobs": [w for j in jobs for w in j.words()],
             "pass_shift": [kp.shift_bits for kp in g.passes],
             "row_src": plan.row_src, "row_shift": plan.row_shift,
             "col_src": plan.col_src, "col_shift": plan.col_shift}
    for name, values in words.items():
        write_hex(out / f"{name}.hex", [int(v) for v in values], WORD_BITS, signed=False)
    np.savez(out / "plan.npz", row_src=plan.row_src, row_shift=plan.row_shift, col_src=plan.col_src,
             col_shift=plan.col_shift, k_src=g.k_src,
             k_shift=np.repeat([kp.shift_bits for kp in g.passes], [kp.k_len for kp in g.passes]))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
