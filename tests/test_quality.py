"""Per-GEMM error against the float product, its trace aggregation, and its independence of the
array width and unpack strategy."""
from __future__ import annotations

import math

import numpy as np
import pytest

from imsim.hwconfig import HwConfig
from imsim.quality import aggregate_errors, dequantized_product, error_of, gemm_error, quantize_gemm
from imsim.quantize import quantize_rtn
from imsim.results import totals
from imsim.simulate import simulate_trace
from imsim.trace.synthetic import synthetic_trace


def test_error_of_hand_values():
    C = np.array([[3.0, 4.0]])  # ||C|| = 5
    e = error_of(np.array([[3.0, 4.0 + 0.5]]), C)
    assert e.rel_error == pytest.approx(0.1) and e.max_abs_error == 0.5
    assert e.sqnr_db == pytest.approx(20.0)  # 10 log10(25 / 0.25)
    exact = error_of(C, C)
    assert exact.rel_error == 0 and exact.sqnr_db == math.inf
    assert error_of(np.zeros((1, 1)), np.zeros((1, 1))).rel_error == 0.0


@pytest.mark.parametrize("ga, gb", [("tensor", "tensor"), ("row", "column"), ("column", "row")])
def test_dequantized_product_matches_dequantized_operands(ga, gb):
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((7, 9)), rng.standard_normal((9, 5))
    qa, qb = quantize_rtn(A, 4, 0.99, ga), quantize_rtn(B, 4, 0.99, gb)
    np.testing.assert_allclose(dequantized_product(qa, qb), qa.dequantize() @ qb.dequantize(), rtol=1e-12, atol=1e-12)


def test_error_falls_with_levels():
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((16, 32)), rng.standard_normal((32, 8))
    errs = [gemm_error(A, B, quantize_rtn(A, 2, levels=d), quantize_rtn(B, 2, levels=d)).rel_error
            for d in (3, 15, 255)]
    assert errs[0] > errs[1] > errs[2] > 0


def test_trace_aggregation_is_pooled_frobenius():
    rows = [error_of(np.array([[1.0, 0.0]]), np.array([[2.0, 0.0]])),  # err 1, ref 4
            error_of(np.array([[3.0]]), np.array([[3.0]]))]  # err 0, ref 9
    agg = aggregate_errors(rows)
    assert agg["rel_error"] == pytest.approx(math.sqrt(1 / 13))
    assert agg["sqnr_db"] == pytest.approx(10 * math.log10(13))
    assert agg["rel_error_mean"] == pytest.approx(0.25) and agg["rel_error_max"] == 0.5
    assert agg["max_abs_error"] == 1.0
    assert aggregate_errors([{"rel_error": None}]) == {}


def test_integer_operands_carry_no_error():
    _, _, info = quantize_gemm(np.ones((2, 2), dtype=np.int64), np.ones((2, 2), dtype=np.int64), 4, 4)
    assert info["rel_error"] is None and info["quantizer"] is None


def test_error_is_the_same_for_a_2bit_auto_and_a_16bit_array():
    """Unpacking is exact: at the same (quantizer, beta, levels) the error does not depend on b."""
    tr = synthetic_trace([(12, 20, 6), (1, 16, 9)], 0.02, seed=3)
    rows = {}
    for bits, strategy in ((2, "auto"), (16, "none")):
        hw = HwConfig(rows=4, cols=4, a_bits=bits, w_bits=bits, acc_bits=64)
        for execute in (True, False):
            res = simulate_trace(hw, tr, strategy=strategy, quantize_beta=0.99, levels=31, w_levels=15,
                                 execute=execute)
            rows[(bits, execute)] = [(r.rel_error, r.sqnr_db, r.max_abs_error) for r in res]
            assert all(r.levels == 31 and r.w_levels == 15 and r.quantizer == "paper" for r in res)
    assert len({tuple(v) for v in rows.values()}) == 1
    assert all(e[0] > 0 for e in rows[(2, True)])
    tot = totals(simulate_trace(HwConfig(rows=4, cols=4, a_bits=2, w_bits=2), tr, quantize_beta=0.99))
    assert 0 < tot["rel_error"] < 1 and tot["rel_error_max"] >= tot["rel_error_mean"]


def test_quantize_gemm_reference_hands_out_the_reference_product_it_measured_with():
    from imsim.quality import quantize_gemm_reference
    from imsim.reference import reference_gemm

    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((6, 10)), rng.standard_normal((10, 4))
    qa, qb, info, C_int = quantize_gemm_reference(A, B, 4, 4, beta=0.9)
    assert np.array_equal(C_int, reference_gemm(qa, qb)) and C_int.dtype == np.int64
    ia, ib, plain = quantize_gemm(A, B, 4, 4, beta=0.9)
    assert np.array_equal(ia, qa) and np.array_equal(ib, qb) and plain == info
    # integer operands: no error measured, no product computed
    assert quantize_gemm_reference(qa, qb, 4, 4)[3] is None
