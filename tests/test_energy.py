"""Energy model: per-operand MAC costs, run energy and its breakdown, activity scaling."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.area import area_of_design, shift_accumulate_mux_bits
from imsim.energy import (Activity, EnergyBreakdown, energy_of_run, leakage_energy_pj, mac_energy_pj,
                          recomb_op_energy_pj, sram_access_energy_pj, sram_read_energy_64b_pj)
from imsim.hwconfig import HwConfig
from imsim.tech import load_technology

SETTINGS = settings(max_examples=40, deadline=None)
T45 = load_technology("45nm")
bits = st.integers(2, 16)
count = st.integers(0, 10**9)


def _hw(**kw) -> HwConfig:
    return HwConfig().replace(**kw)


def _activity(**kw) -> Activity:
    base = dict(macs=1_000_000, nonzero_macs=600_000, cycles=5_000, sram_a_read_bytes=200_000,
                sram_a_write_bytes=50_000, sram_b_read_bytes=150_000, sram_b_write_bytes=40_000,
                sram_c_read_bytes=30_000, sram_c_write_bytes=60_000, dram_read_bytes=90_000,
                dram_write_bytes=30_000, recomb_ops=4_000, shift_acc_macs=100_000, useful_macs=800_000)
    base.update(kw)
    return Activity(**base)


PARTS = ("mac_pj", "pe_register_pj", "sram_a_pj", "sram_b_pj", "sram_c_pj", "dram_pj", "recomb_pj", "leakage_pj",
         "timing_regs_pj", "unpack_pj")


# ---- MAC cost by operand widths ----
def test_mac_energy_ratio_8x8_over_4x4_is_the_documented_formula():
    # documented: E_mult(a,w) = 0.2 pJ * (a*w/64)^gE, gE = ln(3.1/0.2)/ln(16); E_add(n) = alpha*n,
    # alpha = least squares through the origin over (8, 0.03), (16, 0.05), (32, 0.1) pJ
    g = math.log(3.1 / 0.2) / math.log(16)
    alpha = (8 * 0.03 + 16 * 0.05 + 32 * 0.1) / (8 ** 2 + 16 ** 2 + 32 ** 2)
    for acc in (16, 24, 32):
        expected = (0.2 + alpha * acc) / (0.2 * (16 / 64) ** g + alpha * acc)
        got = mac_energy_pj(T45, 8, 8, acc) / mac_energy_pj(T45, 4, 4, acc)
        assert got == pytest.approx(expected, rel=1e-12)
        assert got > 1.3
    e44, e48, e84, e88 = (mac_energy_pj(T45, a, w, 24) for a, w in ((4, 4), (4, 8), (8, 4), (8, 8)))
    assert e44 < e48 < e88 and e48 == pytest.approx(e84)
    # multiplier alone: 4x8 is exactly the geometric mean of 4x4 and 8x8 under the (a*w)^g law
    m44, m48, m88 = (mac_energy_pj(T45, a, w, 0) for a, w in ((4, 4), (4, 8), (8, 8)))
    assert m48 == pytest.approx(math.sqrt(m44 * m88))


def test_published_multiplier_points_are_reproduced():
    assert mac_energy_pj(T45, 8, 8, 0) == pytest.approx(0.2)
    assert mac_energy_pj(T45, 32, 32, 0) == pytest.approx(3.1)


@SETTINGS
@given(a=bits, w=bits, acc=st.integers(16, 63), shift=st.booleans())
def test_mac_energy_grows_with_each_width(a, w, acc, shift):
    base = mac_energy_pj(T45, a, w, acc, shift)
    if a < 16:
        assert mac_energy_pj(T45, a + 1, w, acc, shift) > base
    if w < 16:
        assert mac_energy_pj(T45, a, w + 1, acc, shift) > base
    assert mac_energy_pj(T45, a, w, acc + 1, shift) > base
    assert mac_energy_pj(T45, a, w, acc, True) > mac_energy_pj(T45, a, w, acc, False)


# ---- run energy ----
@SETTINGS
@given(macs=count, frac=st.floats(0, 1), cycles=count, traffic=st.lists(count, min_size=8, max_size=8),
       recomb=count, useful=st.integers(1, 10**9), zero_skipping=st.booleans(),
       k_scale=st.sampled_from(["shift_accumulate", "scale_passes"]), tech=st.sampled_from(["45nm", "28nm"]))
def test_energy_of_run_is_the_sum_of_its_breakdown(macs, frac, cycles, traffic, recomb, useful, zero_skipping,
                                                   k_scale, tech):
    act = Activity(macs, int(macs * frac), cycles, *traffic[:6], traffic[6], traffic[7], recomb,
                   shift_acc_macs=int(macs * frac / 2), useful_macs=useful)
    br = energy_of_run(_hw(zero_skipping=zero_skipping, k_scale=k_scale, technology=tech), act)
    parts = [getattr(br, p) for p in PARTS]
    assert all(p >= 0 for p in parts)
    assert br.energy_pj == pytest.approx(math.fsum(parts), rel=1e-12, abs=1e-9)
    assert br.energy_per_useful_mac_pj == pytest.approx(br.energy_pj / useful)


def test_to_dict_names_carry_units():
    d = energy_of_run(_hw(), _activity(), T45).to_dict()
    assert set(d) == {"energy_mac_pj", "energy_pe_register_pj", "energy_sram_a_pj", "energy_sram_b_pj",
                      "energy_sram_c_pj", "energy_dram_pj", "energy_recomb_pj", "energy_leakage_pj",
                      "energy_pj", "energy_per_useful_mac_pj", "energy_timing_regs_pj", "energy_unpack_pj"}
    assert all(k.startswith("energy") and k.endswith("_pj") for k in d)


@pytest.mark.parametrize("r", [1.0, 1.25, 2.0, 3.5])
def test_mac_energy_is_proportional_to_macs_actually_run(r):
    useful = 1_000_000
    hw = _hw(a_bits=4, w_bits=4, acc_bits=24, k_scale="scale_passes")
    one = energy_of_run(hw, _activity(macs=useful, nonzero_macs=0, shift_acc_macs=0, useful_macs=useful), T45)
    ratio_r = energy_of_run(hw, _activity(macs=int(r * useful), nonzero_macs=0, shift_acc_macs=0,
                                          useful_macs=useful), T45)
    assert ratio_r.mac_pj / one.mac_pj == pytest.approx(r, rel=1e-12)
    assert one.mac_pj == pytest.approx(useful * mac_energy_pj(T45, 4, 4, 24))
    assert ratio_r.energy_per_useful_mac_pj >= one.energy_per_useful_mac_pj


def test_zero_skipping_counts_nonzero_macs_only_when_enabled():
    act = _activity(shift_acc_macs=0)
    off = energy_of_run(_hw(zero_skipping=False), act, T45)
    on = energy_of_run(_hw(zero_skipping=True), act, T45)
    assert off.mac_pj == pytest.approx(act.macs * mac_energy_pj(T45, 8, 8, 32))
    assert on.mac_pj == pytest.approx(act.nonzero_macs * mac_energy_pj(T45, 8, 8, 32))
    assert on.pe_register_pj == off.pe_register_pj and on.sram_a_pj == off.sram_a_pj


def test_shift_accumulate_macs_pay_the_shifter():
    act = _activity(shift_acc_macs=250_000)
    sa = energy_of_run(_hw(k_scale="shift_accumulate"), act, T45)
    sp = energy_of_run(_hw(k_scale="scale_passes"), act, T45)
    mux = shift_accumulate_mux_bits(8, 8, 32)
    assert sa.mac_pj - sp.mac_pj == pytest.approx(250_000 * mux * T45["mux2_bit_energy"])


@SETTINGS
@given(a=st.integers(2, 15), w=st.integers(2, 15), rows=st.integers(1, 128), cols=st.integers(1, 128),
       which=st.sampled_from("abc"), kib=st.floats(1, 1024))
def test_run_energy_grows_with_bits_array_and_sram(a, w, rows, cols, which, kib):
    hw = _hw(rows=rows, cols=cols, a_bits=a, w_bits=w, acc_bits=32, **{f"sram_{which}_kib": kib})
    act = _activity()
    base = energy_of_run(hw, act, T45).energy_pj
    assert energy_of_run(hw.replace(a_bits=a + 1), act, T45).energy_pj > base
    assert energy_of_run(hw.replace(w_bits=w + 1), act, T45).energy_pj > base
    assert energy_of_run(hw.replace(rows=rows + 1), act, T45).energy_pj > base
    assert energy_of_run(hw.replace(cols=cols + 1), act, T45).energy_pj > base
    bigger = energy_of_run(hw.replace(**{f"sram_{which}_kib": kib * 1.5}), act, T45)
    assert bigger.energy_pj > base
    assert getattr(bigger, f"sram_{which}_pj") > getattr(energy_of_run(hw, act, T45), f"sram_{which}_pj")


def test_sram_energy_by_capacity_and_word_width():
    assert sram_read_energy_64b_pj(T45, 8) < sram_read_energy_64b_pj(T45, 32) < sram_read_energy_64b_pj(T45, 1024)
    # same bytes in wider words: fewer accesses, each dearer, less in total (fixed part amortised)
    per_byte = [sram_access_energy_pj(T45, 64, wb) / wb for wb in (1, 2, 4, 8, 16, 32, 64)]
    assert all(x > y for x, y in zip(per_byte, per_byte[1:]))
    # a 64-bit word costs exactly the fitted 64-bit read
    assert sram_access_energy_pj(T45, 64, 8) == pytest.approx(sram_read_energy_64b_pj(T45, 64))
    hw = _hw(sram_word_bytes=8, sram_a_kib=64, double_buffered=False)
    act = _activity(sram_a_read_bytes=8_000, sram_a_write_bytes=0)
    assert energy_of_run(hw, act, T45).sram_a_pj == pytest.approx(1000 * sram_read_energy_64b_pj(T45, 64))
    # double-buffered: each access goes to one 32 KiB slot (bank) of the 64 KiB buffer
    db = energy_of_run(hw.replace(double_buffered=True), act, T45)
    assert db.sram_a_pj == pytest.approx(1000 * sram_read_energy_64b_pj(T45, 32))


def test_dram_recomb_and_leakage_by_hand():
    act = _activity(dram_read_bytes=1000, dram_write_bytes=600, recomb_ops=77, cycles=12_345)
    hw = _hw(clock_mhz=500.0)
    br = energy_of_run(hw, act, T45)
    assert br.dram_pj == pytest.approx(1600 * 8 * 1950 / 64)  # midpoint of 1.3-2.6 nJ per 64 bits
    assert br.recomb_pj == pytest.approx(77 * recomb_op_energy_pj(T45, 32, 64))
    area = area_of_design(hw, T45).area_um2
    # 10 nW/um^2 * area * 12345 cycles / 500 MHz, in pJ
    assert br.leakage_pj == pytest.approx(10e-9 * area * 12_345 / 500e6 * 1e12)
    assert leakage_energy_pj(T45, area, 12_345, 500.0) == br.leakage_pj
    # a caller's area is the one leakage uses
    assert energy_of_run(hw, act, T45, area=area_of_design(hw, T45)) == br
    doubled = dataclasses.replace(area_of_design(hw, T45), area_um2=2 * area)
    assert energy_of_run(hw, act, T45, area=doubled).leakage_pj == pytest.approx(2 * br.leakage_pj)


def test_pe_register_energy_by_hand():
    act = _activity(macs=1000, nonzero_macs=0, cycles=100, shift_acc_macs=0)
    br = energy_of_run(_hw(rows=4, cols=4, a_bits=4, w_bits=4, acc_bits=16), act, T45)
    bits = 4 + 4 + 16
    assert br.pe_register_pj == pytest.approx(1000 * bits * 0.002 + 100 * 16 * bits * 0.0005)


def test_defaults_load_technology_and_28nm_is_cheaper_on_chip():
    act = _activity()
    e45 = energy_of_run(_hw(), act)  # loaded from hw.technology
    e28 = energy_of_run(_hw(technology="28nm"), act)
    assert e45 == energy_of_run(_hw(), act, T45)
    assert e28.mac_pj == pytest.approx(0.51 * e45.mac_pj)
    assert e28.dram_pj == pytest.approx(e45.dram_pj)  # DRAM kept at the 45 nm value


def test_no_useful_macs_gives_nan_per_useful_mac():
    assert math.isnan(energy_of_run(_hw(), _activity(useful_macs=0), T45).energy_per_useful_mac_pj)


def test_activity_accepts_numpy_ints_and_refuses_nonsense():
    act = _activity(macs=np.int64(10), nonzero_macs=np.int32(3), shift_acc_macs=0)
    assert isinstance(energy_of_run(_hw(), act, T45), EnergyBreakdown)
    for bad in (dict(macs=-1, nonzero_macs=0, shift_acc_macs=0), dict(nonzero_macs=2_000_000),
                dict(shift_acc_macs=2_000_000), dict(cycles=1.5), dict(recomb_ops=True)):
        with pytest.raises(ValueError):
            _activity(**bad)
    assert dataclasses.is_dataclass(act)


def test_timing_registers_and_unpack_unit_energy():
    from imsim.area import timing_register_bits
    from imsim.energy import unpack_op_energy_pj

    act = Activity(macs=1000, nonzero_macs=1000, cycles=500, sram_a_read_bytes=0, sram_a_write_bytes=0,
                   sram_b_read_bytes=0, sram_b_write_bytes=0, sram_c_read_bytes=0, sram_c_write_bytes=0,
                   dram_read_bytes=0, dram_write_bytes=0, recomb_ops=0, useful_macs=1000,
                   unpack_ops=300, folds=4, stream_cycles=400)
    hw = _hw(dataflow="ws")
    br = energy_of_run(hw, act, T45, timing="pipelined")
    shadow, skew = timing_register_bits(hw.rows, hw.cols, 8, 8, hw.acc_bits, "ws", "pipelined")
    want = (500 * (shadow + skew) * T45["reg_bit_clock_energy"]
            + (4 * shadow + 400 * skew) * T45["reg_bit_write_energy"])
    assert br.timing_regs_pj == pytest.approx(want)
    assert br.unpack_pj == pytest.approx(300 * unpack_op_energy_pj(T45, 16, 8))
    assert energy_of_run(hw, act, T45, timing="scalesim").timing_regs_pj < br.timing_regs_pj
