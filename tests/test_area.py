"""Area model: per-operand bit-width costs, monotonicity, breakdown, equal-area arrays."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.area import (AreaBreakdown, area_of_design, equal_area_array, mac_area_um2, pe_area_um2,
                        shifter_mux_bits, sram_area_um2, sram_bank_kib)
from imsim.errors import UserError
from imsim.hwconfig import HwConfig
from imsim.tech import load_technology

SETTINGS = settings(max_examples=40, deadline=None)
T45 = load_technology("45nm")
bits = st.integers(2, 16)


def _hw(**kw) -> HwConfig:
    return HwConfig().replace(**kw)


def test_mac_area_ratio_8x8_over_4x4_is_the_documented_formula():
    # documented: A_mult(a,w) = 282 * (a*w/64)^gA, gA = ln(3495/282)/ln(16); A_add(n) = alpha*n,
    # alpha = least squares through the origin over (8, 36), (16, 67), (32, 137) um^2
    g = math.log(3495 / 282) / math.log(16)
    alpha = (8 * 36 + 16 * 67 + 32 * 137) / (8 ** 2 + 16 ** 2 + 32 ** 2)
    acc = 24
    expected = (282 * 1.0 ** g + alpha * acc) / (282 * (16 / 64) ** g + alpha * acc)
    got = mac_area_um2(T45, 8, 8, acc) / mac_area_um2(T45, 4, 4, acc)
    assert got == pytest.approx(expected, rel=1e-12)
    assert got > 1.5
    mid = mac_area_um2(T45, 4, 8, acc)
    assert mac_area_um2(T45, 4, 4, acc) < mid < mac_area_um2(T45, 8, 8, acc)
    assert mid == pytest.approx(mac_area_um2(T45, 8, 4, acc))


def test_published_points_are_reproduced_by_the_multiplier_law():
    assert mac_area_um2(T45, 8, 8, 0) == pytest.approx(282)
    assert mac_area_um2(T45, 32, 32, 0) == pytest.approx(3495)


@SETTINGS
@given(a=bits, w=bits, acc=st.integers(16, 64), shift=st.booleans())
def test_pe_area_grows_with_each_operand_width_and_accumulator(a, w, acc, shift):
    base = pe_area_um2(T45, a, w, acc, shift)
    if a < 16:
        assert pe_area_um2(T45, a + 1, w, max(acc, a + w), False) > pe_area_um2(T45, a, w, max(acc, a + w), False)
    if w < 16:
        assert mac_area_um2(T45, a, w + 1, acc) > mac_area_um2(T45, a, w, acc)
    if acc < 64:
        assert pe_area_um2(T45, a, w, acc + 1, shift) > base
    assert pe_area_um2(T45, a, w, acc, True) >= pe_area_um2(T45, a, w, acc, False)


@SETTINGS
@given(a=st.integers(2, 15), w=st.integers(2, 15), rows=st.integers(1, 64), cols=st.integers(1, 64),
       which=st.sampled_from(["sram_a_kib", "sram_b_kib", "sram_c_kib"]), kib=st.floats(1, 512))
def test_design_area_grows_with_bits_array_and_sram(a, w, rows, cols, which, kib):
    hw = _hw(rows=rows, cols=cols, a_bits=a, w_bits=w, acc_bits=32, **{which: kib})
    base = area_of_design(hw, T45).area_um2
    assert area_of_design(hw.replace(a_bits=a + 1), T45).area_um2 > base
    assert area_of_design(hw.replace(w_bits=w + 1), T45).area_um2 > base
    assert area_of_design(hw.replace(rows=rows + 1), T45).area_um2 > base
    assert area_of_design(hw.replace(cols=cols + 1), T45).area_um2 > base
    assert area_of_design(hw.replace(**{which: kib * 1.5}), T45).area_um2 > base


def test_breakdown_sums_and_names():
    hw = _hw()
    br = area_of_design(hw)  # technology loaded from hw.technology
    assert isinstance(br, AreaBreakdown)
    parts = [br.pe_array_um2, br.sram_a_um2, br.sram_b_um2, br.sram_c_um2, br.recomb_um2,
             br.timing_regs_um2, br.unpack_um2]
    assert br.area_um2 == pytest.approx(sum(parts), rel=1e-12)
    d = br.to_dict()
    assert set(d) == {"area_pe_array_um2", "area_sram_a_um2", "area_sram_b_um2", "area_sram_c_um2",
                      "area_recomb_um2", "area_timing_regs_um2", "area_unpack_um2", "area_um2"}
    assert d["area_um2"] == br.area_um2


def test_sram_area_by_bits_and_double_buffering():
    # 64 KiB = 524288 bits of 0.346 um^2 at 70% array efficiency
    assert sram_area_um2(T45, 64) == pytest.approx(524288 * 0.346 / 0.7)
    single = area_of_design(_hw(double_buffered=False, sram_a_kib=64), T45)
    double = area_of_design(_hw(double_buffered=True, sram_a_kib=64), T45)
    # sram_a_kib is the whole buffer (both slots when double-buffered), as imsim.memory uses it
    assert double.sram_a_um2 == pytest.approx(single.sram_a_um2) == pytest.approx(sram_area_um2(T45, 64))
    assert sram_bank_kib(_hw(double_buffered=True, sram_a_kib=64), 64) == 32
    assert sram_bank_kib(_hw(double_buffered=False, sram_a_kib=64), 64) == 64


def test_shift_accumulate_costs_area_scale_passes_does_not():
    sa = area_of_design(_hw(k_scale="shift_accumulate"), T45)
    sp = area_of_design(_hw(k_scale="scale_passes"), T45)
    mux = shifter_mux_bits(15, 32)  # 8x8 product (15 bits) into a 32-bit accumulator
    assert mux == 16 + 18 + 22 + 30 + 32
    assert sa.pe_array_um2 - sp.pe_array_um2 == pytest.approx(32 * 32 * mux * T45["mux2_bit_area"])


def test_shifter_mux_bits():
    assert shifter_mux_bits(8, 1) == 0                 # nothing to shift
    assert shifter_mux_bits(8, 2) == 2                 # one stage, shifts 0..1
    assert shifter_mux_bits(32, 32) == 5 * 32          # full 5-stage barrel shifter
    assert shifter_mux_bits(4, 64) == sum(min(64, 4 + 2 ** (j + 1) - 1) for j in range(6))
    for i in range(1, 40):                             # never shrinks as either side grows
        for o in range(1, 70):
            assert shifter_mux_bits(i + 1, o) >= shifter_mux_bits(i, o)
            assert shifter_mux_bits(i, o + 1) > shifter_mux_bits(i, o) or o == 1


def test_recomb_area_grows_with_lanes_and_width():
    base = area_of_design(_hw(), T45).recomb_um2
    assert area_of_design(_hw(recomb_lanes=64), T45).recomb_um2 == pytest.approx(2 * base)
    assert area_of_design(_hw(recomb_acc_bits=96), T45).recomb_um2 > base


def test_28nm_is_smaller():
    hw = _hw()
    assert area_of_design(hw.replace(technology="28nm")).area_um2 == pytest.approx(
        0.38 * area_of_design(hw).area_um2, rel=1e-4)


@pytest.mark.parametrize("a, w, acc", [(4, 4, None), (4, 4, 16), (2, 2, None), (8, 4, None), (8, 8, None)])
def test_equal_area_array_is_the_largest_that_fits(a, w, acc):
    ref = _hw(rows=32, cols=32, a_bits=8, w_bits=8, acc_bits=32)
    budget = area_of_design(ref, T45).area_um2
    n, m = equal_area_array(ref, a, w, T45, acc_bits=acc)
    assert n == m
    cand = ref.replace(a_bits=a, w_bits=w, acc_bits=acc or ref.acc_bits)
    assert area_of_design(cand.replace(rows=n, cols=n), T45).area_um2 <= budget
    assert area_of_design(cand.replace(rows=n + 1, cols=n + 1), T45).area_um2 > budget
    if (a, w) == (8, 8):
        assert n == 32
    else:
        assert n > 32


def test_equal_area_array_refuses_when_nothing_fits():
    ref = _hw(rows=1, cols=1, a_bits=2, w_bits=2, acc_bits=8, sram_a_kib=0.01, sram_b_kib=0.01,
              sram_c_kib=0.01, recomb_lanes=1, recomb_acc_bits=16)
    with pytest.raises(UserError, match="exceeds"):
        equal_area_array(ref, 16, 16, T45, acc_bits=31)
    with pytest.raises(UserError, match="acc_bits"):
        equal_area_array(ref, 16, 16, T45)


def test_pe_and_recomb_area_by_hand():
    alpha = (8 * 36 + 16 * 67 + 32 * 137) / (8 ** 2 + 16 ** 2 + 32 ** 2)  # um^2 per adder bit
    # 8x8 PE, 24-bit accumulator: multiplier + adder + (8 + 8 + 24) flip-flops of 4.522 um^2
    assert pe_area_um2(T45, 8, 8, 24) == pytest.approx(282 + alpha * 24 + 4.522 * 40)
    # with shift-accumulate: + 15 -> 24 bit shifter, stages 0..4: 16 + 18 + 22 + 24 + 24 muxes of 1.9 um^2
    assert pe_area_um2(T45, 8, 8, 24, True) - pe_area_um2(T45, 8, 8, 24) == pytest.approx(1.9 * 104)
    # recombination: 32 lanes of a 64-bit adder, a 32 -> 64 bit shifter and a 64-bit register
    hw = _hw(recomb_lanes=32, acc_bits=32, recomb_acc_bits=64)
    lane = alpha * 64 + 1.9 * shifter_mux_bits(32, 64) + 4.522 * 64
    assert area_of_design(hw, T45).recomb_um2 == pytest.approx(32 * lane)


def test_timing_mode_registers_are_paid_for():
    """pipelined ws/is need a shadow stationary register per PE that scalesim does not; SCALE-Sim's
    os count (no drain) needs the same shadow output register as pipelined os."""
    from imsim.area import timing_register_bits

    for df in ("ws", "is"):
        hw = _hw(dataflow=df)
        assert area_of_design(hw, T45, "pipelined").area_um2 > area_of_design(hw, T45, "scalesim").area_um2
    os_ = _hw(dataflow="os")
    # os: the same shadow output register in both modes; pipelined adds the drain counters
    assert area_of_design(os_, T45, "pipelined").area_um2 > area_of_design(os_, T45, "scalesim").area_um2
    shadow, skew = timing_register_bits(4, 4, 8, 8, 32, "os", "pipelined")
    # skew lines for A and B, output deskew, tags (2 per PE + 2 per left skew stage), and a
    # 2-bit drain counter + flag per column
    assert shadow == 16 * 32 and skew == 6 * 8 + 6 * 32 + 6 * 8 + 2 * 16 + 2 * 6 + 4 * 3
    # pipelined ws: second weight register + select bit per PE; skewed preload of the weights
    shadow, skew = timing_register_bits(4, 4, 8, 8, 32, "ws", "pipelined")
    assert shadow == 16 * 9 and skew == 6 * 8 + 6 * 32 + 2 * 16 + 2 * 6 + 6 * (8 + 1 + 2)
    assert timing_register_bits(4, 4, 8, 8, 32, "ws", "scalesim") == (0, skew)
