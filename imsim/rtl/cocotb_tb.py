"""cocotb test: drive the reference array (imsim_systolic_os) with exported golden vectors.

Run by cocotb inside the simulator (see tests/test_rtl_sim.py and docs/rtl.md), with
IMSIM_RTL_EXPORTS = export folders joined by os.pathsep; every folder must have been exported
for the compiled array (ROWS, COLS, A_W, B_W, ACC_W). For each folder the test runs the whole
tile loop (passes x tile rows x tile columns), checks every tile's PE results against psum.npy
and every tile's cycle count (first operand in .. last result out, inclusive) against imsim's
model (imsim.rtl.cycles.tile_cycles), and writes the collected results to
`cocotb_results.hex` ($writememh layout of psum) plus `cocotb_cycles.json` in the folder.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from imsim.rtl.cycles import tile_cycles
from imsim.rtl.hexfile import write_hex

ENV_EXPORTS = "IMSIM_RTL_EXPORTS"
RESULTS_NAME = "cocotb_results.hex"
CYCLES_NAME = "cocotb_cycles.json"


def _pack(values: np.ndarray, width: int) -> int:
    """Concatenate signed values into one bus: element i at bits [i*width +: width]."""
    mask = (1 << width) - 1
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * width)
    return word


def _unpack(word: int, count: int, width: int) -> list[int]:
    """Split a bus into `count` signed `width`-bit elements."""
    mask, half = (1 << width) - 1, 1 << (width - 1)
    out = []
    for i in range(count):
        v = (word >> (i * width)) & mask
        out.append(v - (1 << width) if v >= half else v)
    return out


def _param(dut, name: str) -> int:
    return int(getattr(dut, name).value)


async def _run_tile(dut, A_t: np.ndarray, B_t: np.ndarray, rows: int, cols: int,
                    a_w: int, b_w: int, acc_w: int) -> tuple[np.ndarray, int]:
    """Feed one tile (A_t: rows x k, B_t: k x cols, zero-padded); return (results, cycles).

    Cycle t = 0 is the cycle of the first feed; inputs change on the falling edge and
    outputs are read after they settle (ReadOnly) in the same cycle.
    """
    k = A_t.shape[1]
    result = np.zeros((rows, cols), dtype=np.int64)
    seen: set[int] = set()
    limit = k + 4 * (rows + cols) + 8
    for t in range(limit):
        await FallingEdge(dut.clk)
        feeding = t < k
        dut.in_valid.value = 1 if feeding else 0
        dut.a_col.value = _pack(A_t[:, t], a_w) if feeding else 0
        dut.b_row.value = _pack(B_t[t, :], b_w) if feeding else 0
        await ReadOnly()
        if t == 0:
            assert int(dut.ready.value) == 1, "array not ready at the start of a tile"
        if int(dut.out_valid.value):
            row = int(dut.out_row.value)
            assert 0 <= row < rows and row not in seen, f"bad or repeated out_row {row} in cycle {t}"
            seen.add(row)
            result[row] = _unpack(dut.c_row.value.to_unsigned(), cols, acc_w)
            if row == 0:
                assert len(seen) == rows, f"only rows {sorted(seen)} drained before row 0"
                return result, t + 1
    raise AssertionError(f"tile did not finish within {limit} cycles")


async def _run_export(dut, folder: Path, dims: dict[str, int]) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    hw = manifest["array"]
    expect = {"ROWS": hw["rows"], "COLS": hw["cols"], "A_W": hw["a_bits"], "B_W": hw["w_bits"],
              "ACC_W": hw["acc_bits"]}
    assert expect == dims, f"{folder}: exported for {expect}, simulated array is {dims}"
    R, C = dims["ROWS"], dims["COLS"]
    A = np.load(folder / "a.npy")
    B = np.load(folder / "b.npy")
    psum = np.load(folder / "psum.npy")
    m, n = A.shape[0], B.shape[1]
    got = np.zeros_like(psum)
    measured = []
    for p, kp in enumerate(manifest["passes"]):
        ks = slice(kp["k_start"], kp["k_start"] + kp["k_len"])
        for tm in range(-(-m // R)):
            for tn in range(-(-n // C)):
                rs, cs = slice(tm * R, min(m, (tm + 1) * R)), slice(tn * C, min(n, (tn + 1) * C))
                A_t = np.zeros((R, kp["k_len"]), dtype=np.int64)
                B_t = np.zeros((kp["k_len"], C), dtype=np.int64)
                A_t[: rs.stop - rs.start] = A[rs, ks]
                B_t[:, : cs.stop - cs.start] = B[ks, cs]
                tile, cycles = await _run_tile(dut, A_t, B_t, R, C, dims["A_W"], dims["B_W"], dims["ACC_W"])
                got[p, rs, cs] = tile[: rs.stop - rs.start, : cs.stop - cs.start]
                want = tile_cycles(R, C, kp["k_len"])
                assert cycles == want, (f"{folder}: pass {p} tile ({tm}, {tn}): RTL took {cycles} "
                                        f"cycles, imsim predicts {want}")
                measured.append({"pass": p, "tile_row": tm, "tile_col": tn, "cycles": cycles})
    write_hex(folder / RESULTS_NAME, got, dims["ACC_W"])
    (folder / CYCLES_NAME).write_text(json.dumps(
        {"tiles": measured, "total": sum(x["cycles"] for x in measured)}, indent=1))
    bad = np.argwhere(got != psum)
    assert bad.size == 0, (f"{folder}: {len(bad)} PE results differ, first at (pass, row, col) = "
                           f"{tuple(int(x) for x in bad[0])}: expected {psum[tuple(bad[0])]}, "
                           f"got {got[tuple(bad[0])]}")


@cocotb.test()
async def exported_vectors_match(dut) -> None:
    """Every exported tile: PE results exact and cycle count equal to imsim's."""
    Clock(dut.clk, 10, unit="ns").start()
    dims = {name: _param(dut, name) for name in ("ROWS", "COLS", "A_W", "B_W", "ACC_W")}
    dut.rst.value = 1
    dut.in_valid.value = 0
    dut.a_col.value = 0
    dut.b_row.value = 0
    for _ in range(2):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    folders = [Path(p) for p in os.environ.get(ENV_EXPORTS, "").split(os.pathsep) if p]
    assert folders, f"no export folders given in ${ENV_EXPORTS}"
    for folder in folders:
        await _run_export(dut, folder, dims)
