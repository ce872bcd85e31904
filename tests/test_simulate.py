"""The simulate pipeline: GemmResult figures, monotonicity in the unpack ratio, exactness."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from imsim.array import compute_timing
from imsim.hwconfig import HwConfig
from imsim.reference import reference_gemm
from imsim.results import GemmResult, totals
from imsim.simulate import quantize_operands, simulate_gemm, simulate_trace
from imsim.unpack import unpack_gemm


def test_cycles_never_decrease_when_the_unpack_ratio_grows():
    rng = np.random.default_rng(7)
    A = rng.integers(-127, 128, size=(96, 128))
    B = rng.integers(-127, 128, size=(128, 64))
    for dataflow in ("os", "ws", "is"):
        hw = HwConfig(rows=16, cols=16, dataflow=dataflow)
        prev_ratio, prev = 0.0, None
        heavy = A.copy()
        for step in range(6):
            rows = np.arange(step * 6, step * 6 + 6)
            heavy[rows, 3] = 9000 + step  # six more rows hold a heavy hitter
            ug = unpack_gemm(heavy, B, 8, 8, "row")
            r = simulate_gemm(hw, ug, execute=False, energy=False)
            assert ug.unpack_ratio > prev_ratio
            if prev is not None:
                # A is stored once at its own width and sliced on chip (imsim.datapath): its bytes
                # do not grow with the unpack ratio, the array's and the unpack unit's work does
                assert r.compute_cycles >= prev.compute_cycles
                assert r.unpack_ops >= prev.unpack_ops
                assert r.cycles >= 0.99 * prev.cycles  # within the event model's granularity
            prev_ratio, prev = ug.unpack_ratio, r


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), M=st.integers(1, 70), K=st.integers(1, 70), N=st.integers(1, 70),
       bits=st.integers(2, 8), w_bits=st.integers(2, 8), dataflow=st.sampled_from(["os", "ws", "is"]),
       strategy=st.sampled_from(["row", "col", "both", "auto"]),
       k_scale=st.sampled_from(["shift_accumulate", "scale_passes"]))
def test_exact_on_random_gemms(seed, M, K, N, bits, w_bits, dataflow, strategy, k_scale):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, K))
    B = rng.standard_normal((K, N))
    A[rng.random(A.shape) < 0.03] *= 30
    B[rng.random(B.shape) < 0.03] *= 30
    qa, qb = quantize_operands(A, B, 8, 8, quantize_beta=0.9)
    hw = HwConfig(rows=8, cols=8, a_bits=bits, w_bits=w_bits, acc_bits=48, dataflow=dataflow,
                  k_scale=k_scale)
    ug = unpack_gemm(qa, qb, bits, w_bits, strategy)
    r = simulate_gemm(hw, ug, operands=(qa, qb), energy=False)
    assert r.exact is True and r.first_mismatch is None
    assert r.pe_overflows == 0 and r.recomb_overflows == 0
    if k_scale == "scale_passes":
        assert r.passes == ug.k_classes.size


def test_wrapped_accumulator_is_reported_not_exact():
    A = np.full((4, 64), 127)
    B = np.full((64, 4), 127)
    hw = HwConfig(rows=4, cols=4, acc_bits=16, overflow="wrap")
    r = simulate_gemm(hw, unpack_gemm(A, B, 8, 8, "none"), operands=(A, B), energy=False)
    assert r.exact is False and r.pe_overflows == 16
    i, j, expected, got = r.first_mismatch
    assert expected == 64 * 127 * 127 and got == ((expected + 2**15) % 2**16) - 2**15
    assert "expected" in r.to_dict()["first_mismatch"]


def test_result_fields_and_totals():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 50))
    B = rng.standard_normal((50, 30))
    A[0, 0] = 80.0
    qa, qb = quantize_operands(A, B, 4, 4, quantize_beta=0.95)
    ug = unpack_gemm(qa, qb, 4, 4, "auto")
    hw = HwConfig(rows=8, cols=8, a_bits=4, w_bits=4, acc_bits=24, dataflow="ws", k_scale="scale_passes")
    r = simulate_gemm(hw, ug, timing="scalesim", meta={"name": "fc", "kind": "linear", "phase": "fwd", "model": "m"},
                      operands=(qa, qb))
    d = r.to_dict()
    assert isinstance(r, GemmResult)
    assert all(not isinstance(v, (dict, list, tuple)) for v in d.values())
    assert d["name"] == "fc" and d["kind"] == "linear" and d["timing"] == "scalesim"
    assert d["cycles"] == d["compute_cycles"] + d["stall_cycles"] + d["recomb_cycles"]
    assert d["dram_bytes"] == d["dram_read_bytes"] + d["dram_write_bytes"]
    assert d["energy_pj"] > 0 and d["area_um2"] > 0
    assert math.isclose(d["energy_per_useful_mac_pj"], d["energy_pj"] / d["useful_macs"])
    assert d["utilization"] == pytest.approx(d["useful_macs"] / (64 * d["cycles"]))
    if r.passes == 1:
        assert r.compute_cycles == compute_timing(*ug.low_shape, 8, 8, "ws", "scalesim").cycles
    t = totals([r, r])
    assert t["cycles"] == 2 * r.cycles and t["macs"] == 2 * r.macs
    assert t["unpack_ratio"] == pytest.approx(r.unpack_ratio)
    assert t["energy_pj"] == pytest.approx(2 * r.energy_pj)
    assert t["area_um2"] == pytest.approx(r.area_um2)
    assert t["exact"] is True and t["exact_status"] == "exact" and r.exact_status == "exact"


def test_without_original_operands_exactness_is_unchecked_never_true():
    A = np.array([[1, 500, 3], [4, 5, 6]])
    B = np.array([[1, 2], [3, 4], [5, 6]])
    ug = unpack_gemm(A, B, 4, 4, "row")
    hw = HwConfig(rows=4, cols=4, a_bits=4, w_bits=4, acc_bits=16)
    r = simulate_gemm(hw, ug, energy=False)
    assert r.exact is None and r.exact_status == "unchecked"
    skipped = simulate_gemm(hw, ug, execute=False, energy=False)
    assert skipped.exact is None and skipped.exact_status == "not run"
    t = totals([r, simulate_gemm(hw, ug, operands=(A, B), energy=False)])
    assert t["exact"] is True and t["exact_status"] == "unchecked"
    with pytest.raises(ValueError):
        simulate_gemm(hw, ug, operands=(A[:, :2], B[:2]), energy=False)


def test_scale_passes_run_one_pass_per_k_class():
    A = np.array([[1, 500, 3], [4, 5, 6]])
    B = np.array([[1, 2], [3, 4], [5, 6]])
    ug = unpack_gemm(A, B, 4, 4, "col")
    assert ug.k_classes.size > 1
    hw = HwConfig(rows=4, cols=4, a_bits=4, w_bits=4, acc_bits=16)
    one = simulate_gemm(hw, ug, operands=(A, B), energy=False)
    many = simulate_gemm(hw.replace(k_scale="scale_passes"), ug, operands=(A, B), energy=False)
    assert one.passes == 1 and many.passes == ug.k_classes.size
    assert many.folds > one.folds and many.recomb_ops > one.recomb_ops
    assert one.exact and many.exact


def test_simulate_trace_quantizes_float_records():
    class Rec:
        def __init__(self, name, A, B):
            self.name, self.kind, self.phase, self.model, self.A, self.B = name, "linear", "fwd", "toy", A, B

    rng = np.random.default_rng(5)
    recs = [Rec(f"g{i}", rng.standard_normal((16, 24)), rng.standard_normal((24, 8))) for i in range(2)]
    out = simulate_trace(HwConfig(rows=8, cols=8), recs, strategy="auto")
    assert [r.name for r in out] == ["g0", "g1"] and all(r.exact for r in out)
    assert all(r.model == "toy" for r in out)


def test_a_given_reference_is_what_the_exactness_check_compares_with():
    A = np.array([[1, 500, 3], [4, 5, 6]])
    B = np.array([[1, 2], [3, 4], [5, 6]])
    ug = unpack_gemm(A, B, 4, 4, "row")
    hw = HwConfig(rows=4, cols=4, a_bits=4, w_bits=4, acc_bits=32)
    ref = reference_gemm(A, B)
    assert simulate_gemm(hw, ug, operands=(A, B), energy=False, reference=ref).exact is True
    wrong = ref.copy()
    wrong[1, 0] += 1
    r = simulate_gemm(hw, ug, operands=(A, B), energy=False, reference=wrong)
    assert r.exact is False and r.first_mismatch == (1, 0, int(wrong[1, 0]), int(ref[1, 0]))
    with pytest.raises(ValueError):
        simulate_gemm(hw, ug, operands=(A, B), energy=False, reference=ref[:, :1])
