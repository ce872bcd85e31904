"""The unpacking and recombination data path (imsim.datapath, imsim.memory) and the worked
examples of docs/model-memory.md and docs/model-energy-area.md, recomputed by hand."""
import importlib.util
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from imsim.datapath import data_path, stored_bits
from imsim.hwconfig import HwConfig
from imsim.simulate import simulate_gemm
from imsim.tech import load_technology
from imsim.unpack import unpack_gemm

_spec = importlib.util.spec_from_file_location(
    "wed", Path(__file__).resolve().parent.parent / "experiments" / "worked_example_datapath.py")
WED = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(WED)


def test_recombination_read_modify_write_on_chip_by_hand():
    # 6x8x4 on a 4x4 os array: fold 1 = rows 0-3 (16 base outputs), fold 2 = rows 4-5 (8 extra)
    acc, out = 4, 5  # bytes per element at acc_bits 32 and out_bits 40
    r = WED.recombination_examples()["on_chip"]
    drain = (16 + 8) * acc                  # both tiles drain into the C buffer at acc_bits, read once
    assert r["sram_c_write_bytes"] == drain + 16 * out + 8 * out  # base stored + extra RMW write
    assert r["sram_c_read_bytes"] == drain + 8 * out + 16 * out   # extra RMW read + final read
    assert r["dram_write_bytes"] == 16 * out == 80                # C written once at out_bits
    assert r["recomb_ops"] == 8 and r["spilled_outputs"] == 0


def test_spilled_partials_by_hand():
    acc, out = 4, 5
    r = WED.recombination_examples()["spill"]
    assert r["spilled_outputs"] == 8
    # during the array: base at out_bits, partials at acc_bits; after it: each partial read back
    # with its destination and the destination written again (read-modify-write in DRAM)
    assert r["dram_write_bytes"] == 16 * out + 8 * acc + 8 * out == 152
    assert r["dram_spill_read_bytes"] == 8 * acc + 8 * out == 72
    assert r["sram_c_read_bytes"] == r["sram_c_write_bytes"] == (16 + 8) * acc
    assert r["recomb_ops"] == 8


def test_unpack_unit_by_hand():
    tech = load_technology("45nm")
    u = WED.unpack_unit_example()
    # an 8-bit window over a 16-bit word: 4 stages, min(16, 8 + 2^(j+1) - 1) = 9 + 11 + 15 + 16
    assert u["mux_bits"] == 51
    alpha_a, alpha_e = tech.add_area_per_bit_um2, tech.add_energy_per_bit_pj
    lane = 51 * 1.9 + 8 * alpha_a + (16 + 8) * 4.522
    assert u["lane_area_um2"] == pytest.approx(lane)
    assert u["unit_area_um2"] == pytest.approx(32 * lane)
    assert u["op_energy_pj"] == pytest.approx(51 * 0.001 + 8 * alpha_e + 8 * 0.002)


def test_timing_registers_by_hand():
    t = WED.timing_registers_example()
    tri = 32 * 31 // 2
    tags = 2 * 32 * 32 + 2 * tri  # valid/last per PE and per left-edge skew stage
    assert t[("os", "pipelined")] == (32 * 32 * 32, tri * 8 + tri * 32 + tri * 8 + tags + 32 * (5 + 1))
    assert t[("os", "scalesim")] == (32 * 32 * 32, tri * 8 + tri * 32 + tri * 8 + tags)
    preload = tri * (8 + 1 + 5)  # column-skewed load of the stationary weights, tag, row index
    assert t[("ws", "pipelined")] == (32 * 32 * (8 + 1), tri * 8 + tri * 32 + tags + preload)
    assert t[("ws", "scalesim")] == (0, tri * 8 + tri * 32 + tags + preload)
    assert t[("is", "scalesim")][0] == 0


def test_stored_widths_and_on_chip_unpacking():
    assert stored_bits(127, 8) == 8 and stored_bits(128, 8) == 9 and stored_bits(5, 8) == 8
    rng = np.random.default_rng(3)
    A = rng.integers(-127, 128, size=(24, 40))
    B = rng.integers(-127, 128, size=(40, 16))
    A[2, 5] = 3000   # 13 bits
    B[7, 1] = -900   # 11 bits
    ug = unpack_gemm(A, B, 8, 8, "row")
    off = data_path(HwConfig(), ug, 1, (A, B))
    assert (off.a_stored_bits, off.a_on_chip, off.b_on_chip, off.b_stored_bits) == (13, True, False, 8)
    on = data_path(HwConfig(weight_unpack="on_chip"), ug, 1, (A, B))
    assert on.b_on_chip and on.b_stored_bits == 11
    f = on.pass_fields(HwConfig(weight_unpack="on_chip"), ug)
    Mp, Kp, Np = ug.low_shape
    assert f["a_store_bits"] == Fraction(13 * 24 * 40, Mp * Kp)
    # DRAM bytes of A are those of the stored tensor (read once: it fits its slot)
    r = simulate_gemm(HwConfig(weight_unpack="on_chip"), ug, execute=False, operands=(A, B))
    assert r.unpack_ops > 0 and r.a_stored_bits == 13 and r.b_stored_bits == 11
    r_off = simulate_gemm(HwConfig(), ug, execute=False, operands=(A, B))
    assert r_off.b_stored_bits == 8


def test_unpack_unit_rate_limits_the_array():
    rng = np.random.default_rng(4)
    A = rng.integers(-127, 128, size=(64, 256))
    B = rng.integers(-127, 128, size=(256, 64))
    A[:, 0] = 20000
    ug = unpack_gemm(A, B, 8, 8, "row")
    fast = simulate_gemm(HwConfig(unpack_lanes=64), ug, execute=False, operands=(A, B))
    slow = simulate_gemm(HwConfig(unpack_lanes=1), ug, execute=False, operands=(A, B))
    assert fast.unpack_cycles == 0 and slow.unpack_cycles > 0
    assert slow.cycles >= fast.cycles + slow.unpack_cycles * 0.9
    assert slow.unpack_ops == fast.unpack_ops
