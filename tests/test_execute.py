"""Exact execution: float/int product paths, accumulator overflow detection and policies."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from imsim.errors import AccumulatorOverflow, UserError
from imsim.execute import acc_range, exact_matmul, run_pass, run_passes, wrap_to
from imsim.hwconfig import HwConfig
from imsim.recombine import recombine_exact
from imsim.unpack import unpack_gemm


def _obj(A, B):
    return A.astype(object) @ B.astype(object)


@pytest.mark.parametrize("mag,method", [(7, "float32"), (3000, "float64"), (2**26, "int64"), (2**40, "object")])
def test_exact_matmul_picks_a_provably_exact_method(mag, method):
    rng = np.random.default_rng(1)
    A = rng.integers(-mag, mag + 1, size=(9, 40), dtype=np.int64)
    B = rng.integers(-mag, mag + 1, size=(40, 7), dtype=np.int64)
    P, m = exact_matmul(A, B)
    assert m == method
    assert np.array_equal(P.astype(object), _obj(A, B))


def test_wrap_is_twos_complement():
    x = np.array([392, 127, 128, -129, -128, 0, 36000], dtype=np.int64)
    assert wrap_to(x, 8).tolist() == [392 - 512, 127, -128, 127, -128, 0, 36000 - 256 * 141]
    assert wrap_to(np.array([36000]), 16).tolist() == [36000 - 65536]
    assert acc_range(8) == (-128, 127)


def _crafted():
    # products 49, 49, 49, -49, -49, -49 in an 8-bit accumulator: exact sum 0
    A = np.array([[7, 7, 7, -7, -7, -7]], dtype=np.int8)
    B = np.full((6, 1), 7, dtype=np.int8)
    return A, B, np.zeros(6, dtype=np.int64)


def test_overflow_error_names_gemm_fold_value_and_range():
    A, B, ks = _crafted()
    with pytest.raises(AccumulatorOverflow) as exc:
        run_pass(A, B, ks, acc_bits=8, policy="error", dataflow="os", rows=4, cols=4, name="layer3.fc1")
    msg = str(exc.value)
    assert isinstance(exc.value, UserError)
    assert "layer3.fc1" in msg and "[-128, 127]" in msg and "147" in msg and "m 0:1" in msg
    assert "\n" not in msg


def test_saturate_clamps_every_intermediate_in_order():
    A, B, ks = _crafted()
    # os: one accumulator for the whole K: 49, 98, 127 (147), 78, 29, -20
    r = run_pass(A, B, ks, acc_bits=8, policy="saturate", dataflow="os", rows=3, cols=4)
    assert r.acc.tolist() == [[-20]] and r.overflows == 1
    # ws: each K fold of 3 starts at 0 down a column: 127 (147) then -128 (-147); buffer 127-128
    r = run_pass(A, B, ks, acc_bits=8, policy="saturate", dataflow="ws", rows=3, cols=4)
    assert r.acc.tolist() == [[-1]]


def test_wrap_gives_the_twos_complement_of_the_exact_sum():
    A = np.full((2, 8), 7, dtype=np.int8)
    B = np.full((8, 3), 7, dtype=np.int8)
    r = run_pass(A, B, np.zeros(8, dtype=np.int64), acc_bits=8, policy="wrap", dataflow="is", rows=4, cols=4)
    assert np.all(r.acc == 392 - 512) and r.overflows == 6
    # the wrapped result no longer equals the exact product
    assert not np.array_equal(r.acc, A.astype(np.int64) @ B.astype(np.int64))


def test_loose_bound_without_real_overflow_is_exact():
    A = np.array([[7, -7] * 8], dtype=np.int8)
    B = np.full((16, 2), 7, dtype=np.int8)
    r = run_pass(A, B, np.zeros(16, dtype=np.int64), acc_bits=8, policy="error", dataflow="os", rows=4, cols=4)
    assert r.overflows == 0 and np.all(r.acc == 0)


def test_shift_accumulate_overflows_where_scale_passes_does_not():
    # K-axis shift of 7 bits in the PE: 7*7 << 7 = 6272 > 2^12; without the shift (scale pass) fine
    A = np.array([[7, 7]], dtype=np.int8)
    B = np.array([[7], [7]], dtype=np.int8)
    ks = np.array([0, 7])
    with pytest.raises(AccumulatorOverflow):
        run_pass(A, B, ks, acc_bits=12, policy="error", dataflow="os", rows=2, cols=2)
    r = run_pass(A, B, np.zeros(2, dtype=np.int64), acc_bits=12, policy="error", dataflow="os", rows=2, cols=2)
    assert r.acc.tolist() == [[98]]


def _heavy(rng, rows, cols, bits, frac=0.05):
    lim = (1 << (bits - 1)) - 1
    X = rng.integers(-lim, lim + 1, size=(rows, cols))
    mask = rng.random((rows, cols)) < frac
    X[mask] = rng.integers(-60 * lim, 60 * lim + 1, size=int(mask.sum()))
    return X


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), M=st.integers(1, 40), K=st.integers(1, 40), N=st.integers(1, 40),
       bits=st.integers(2, 8), dataflow=st.sampled_from(["os", "ws", "is"]),
       strategy=st.sampled_from(["row", "col", "both", "auto"]),
       k_scale=st.sampled_from(["shift_accumulate", "scale_passes"]))
def test_execution_is_exact_with_wide_accumulators(seed, M, K, N, bits, dataflow, strategy, k_scale):
    rng = np.random.default_rng(seed)
    A, B = _heavy(rng, M, K, bits), _heavy(rng, K, N, bits)
    ug = unpack_gemm(A, B, bits, bits, strategy)
    hw = HwConfig(rows=8, cols=8, a_bits=bits, w_bits=bits, acc_bits=48, dataflow=dataflow, k_scale=k_scale)
    passes = run_passes(ug, hw)
    if k_scale == "scale_passes":
        assert len(passes) == ug.k_classes.size
    C = recombine_exact(passes, ug.plan, M, N, acc_bits=64, policy="error").C
    assert np.array_equal(C, A @ B)


def test_row_bound_clears_a_pass_that_the_coarse_bound_does_not():
    # coarse bound max|a| max|w| sum 2^t = 7*7*(1 + 64) = 3185 > 2^11 - 1; but the shifted column
    # of A meets only small entries of B: the row bounds are 113 and 455, inside 12 bits
    A = np.array([[7, 1], [1, 7]], dtype=np.int8)
    B = np.array([[7, 7], [1, 1]], dtype=np.int8)
    ks = np.array([0, 6])
    r = run_pass(A, B, ks, acc_bits=12, policy="error", dataflow="os", rows=2, cols=2)
    want = (A.astype(np.int64) << ks[None, :]) @ B.astype(np.int64)
    assert r.overflows == 0 and np.array_equal(r.acc, want)
    # a row that may overflow: the element bounds decide (a real overflow, element (1, 1) = 3137)
    B2 = np.array([[7, 1], [1, 7]], dtype=np.int8)
    w = run_pass(A, B2, ks, acc_bits=12, policy="wrap", dataflow="os", rows=2, cols=2)
    exact = (A.astype(np.int64) << ks[None, :]) @ B2.astype(np.int64)
    assert w.overflows == int(np.count_nonzero(np.abs(exact) > 2047))
    assert w.overflows >= 1
