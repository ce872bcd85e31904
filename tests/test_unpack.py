"""IM-Unpack engine: exactness (property-based), ranges, plans, named edge cases."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from imsim.errors import UserError
from imsim.unpack import (
    exact_product, int_matmul, qmax, reference_gemm, smallest_int_dtype, unpack_gemm, unpack_operand,
)

STRATS = ["row", "col", "both", "auto"]
INT64_MAX = 2**63 - 1


def py_matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Reference product in Python integers (never overflows)."""
    return A.astype(object) @ B.astype(object)


def fits_int64(C: np.ndarray) -> bool:
    return all(-INT64_MAX - 1 <= int(v) <= INT64_MAX for v in C.flat)


def check_exact(A, B, a_bits, w_bits, strategy):
    ug = unpack_gemm(A, B, a_bits, w_bits, strategy)
    assert np.abs(ug.A.astype(np.int64)).max(initial=0) <= qmax(a_bits)
    assert np.abs(ug.B.astype(np.int64)).max(initial=0) <= qmax(w_bits)
    assert ug.A.dtype == smallest_int_dtype(qmax(a_bits))
    assert ug.B.dtype == smallest_int_dtype(qmax(w_bits))
    C = exact_product(ug)
    assert C.dtype == np.int64
    assert np.array_equal(C.astype(object), py_matmul(A, B))
    M, K, N = A.shape[0], A.shape[1], B.shape[1]
    assert ug.shape == (M, K, N)
    assert ug.macs == np.prod(ug.low_shape) and ug.unpack_ratio >= 1.0
    return ug


SPECIALS = [0, 1, -1, 2, -2, 3, 7, -7, 8, -8, 127, -128, 2**15, -(2**15), 2**31, -(2**31), 2**62, -(2**62)]


@st.composite
def gemms(draw):
    M, K, N = (draw(st.integers(1, 64)) for _ in range(3))
    a_bits, w_bits = draw(st.integers(2, 16)), draw(st.integers(2, 16))
    ea, eb = draw(st.integers(0, 62)), draw(st.integers(0, 62))
    seed = draw(st.integers(0, 2**32 - 1))
    heavy = draw(st.sampled_from([0.0, 0.01, 0.1, 1.0]))
    rng = np.random.default_rng(seed)

    def mat(rows, cols, e, bits):
        body = rng.integers(-qmax(bits), qmax(bits) + 1, (rows, cols), dtype=np.int64)
        mask = rng.random((rows, cols)) < heavy
        big = rng.integers(-(2**e), 2**e, (rows, cols), dtype=np.int64, endpoint=True)
        X = np.where(mask, big, body)
        if draw(st.booleans()):  # sprinkle exact extremes
            sp = np.array(draw(st.lists(st.sampled_from(SPECIALS), min_size=1, max_size=4)), dtype=np.int64)
            idx = rng.integers(0, X.size, sp.size)
            X.flat[idx] = sp
        return X

    A = mat(M, K, ea, a_bits)
    B = mat(K, N, eb, w_bits)
    return A, B, a_bits, w_bits


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=gemms(), strategy=st.sampled_from(STRATS))
def test_recombined_product_is_exact(g, strategy):
    A, B, a_bits, w_bits = g
    assume(fits_int64(py_matmul(A, B)))
    check_exact(A, B, a_bits, w_bits, strategy)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=gemms())
def test_auto_never_worse_than_best_single_strategy(g):
    A, B, a_bits, w_bits = g
    best = min(unpack_gemm(A, B, a_bits, w_bits, s).macs for s in ("row", "col", "both"))
    auto = unpack_gemm(A, B, a_bits, w_bits, "auto")
    assert auto.macs <= best
    assert auto.strategy.startswith("auto(")


@pytest.mark.parametrize("bits", [2, 3, 4, 8, 16])
@pytest.mark.parametrize("strategy", STRATS)
def test_range_edges(bits, strategy):
    top = qmax(bits)
    # +-(2^(b-1)-1) fits: nothing to unpack
    A = np.array([[top, -top], [-top, top]])
    B = np.array([[top, -top], [1, 0]])
    ug = check_exact(A, B, bits, bits, strategy)
    assert ug.unpack_ratio == 1.0 and ug.low_shape == (2, 2, 2)
    # +-2^(b-1) is one past the range: must unpack
    A2 = np.array([[top + 1, 0], [0, -(top + 1)]])
    ug2 = check_exact(A2, B, bits, bits, strategy)
    assert ug2.unpack_ratio > 1.0


@pytest.mark.parametrize("strategy", STRATS)
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_huge_entries_2_pow_62(strategy, bits):
    A = np.array([[2**62, -(2**62) + 5], [3, -(2**62)]], dtype=np.int64)
    B = np.array([[1, 0], [0, -1]], dtype=np.int64)
    check_exact(A, B, bits, bits, strategy)


@pytest.mark.parametrize("strategy", STRATS)
def test_all_rows_heavy(strategy):
    rng = np.random.default_rng(3)
    A = rng.integers(100, 1000, (16, 12)) * rng.choice([-1, 1], (16, 12))
    B = rng.integers(-3, 4, (12, 9))
    ug = check_exact(A, B, 4, 4, strategy)
    assert ug.unpack_ratio > 1.0


@pytest.mark.parametrize("strategy", ["row", "col", "both"])
def test_single_heavy_entry_adds_one_line(strategy):
    A = np.ones((8, 8), dtype=np.int64)
    A[3, 5] = 50  # needs 2 digits at b = 4 (s = 8): 50 = 2 + 8*6
    B = np.eye(8, dtype=np.int64)
    ug = check_exact(A, B, 4, 4, strategy)
    assert ug.macs == 9 * 8 * 8  # exactly one extra row (or K column)


@pytest.mark.parametrize("strategy", STRATS)
def test_zero_matrices_and_k1(strategy):
    check_exact(np.zeros((5, 7), dtype=np.int64), np.zeros((7, 3), dtype=np.int64), 2, 2, strategy)
    A = np.array([[1000], [-3]])
    B = np.array([[-999, 4, 0]])
    check_exact(A, B, 3, 5, strategy)


@pytest.mark.parametrize("strategy", ["none"] + STRATS)
def test_no_heavy_hitters_means_no_extra_work(strategy):
    rng = np.random.default_rng(0)
    A = rng.integers(-7, 8, (10, 20))
    B = rng.integers(-127, 128, (20, 6))
    ug = unpack_gemm(A, B, 4, 8, strategy)
    assert ug.unpack_ratio == 1.0
    assert np.array_equal(ug.A, A) and np.array_equal(ug.B, B)
    assert not ug.plan.k_shift.any() and not ug.plan.row_shift.any() and not ug.plan.col_shift.any()
    assert np.array_equal(exact_product(ug), A @ B)


def test_strategy_none_refuses_out_of_range_operands():
    with pytest.raises(UserError, match="pick --strategy"):
        unpack_gemm(np.array([[8]]), np.array([[1]]), 4, 4, "none")


def test_int64_overflow_is_refused():
    A = np.array([[2**62, 2**62]], dtype=np.int64)
    B = np.array([[2], [2]], dtype=np.int64)
    with pytest.raises(UserError, match="does not fit int64"):
        reference_gemm(A, B)
    ug = unpack_gemm(A, B, 4, 4, "row")
    with pytest.raises(UserError, match="does not fit int64"):
        exact_product(ug)


def test_bound_above_int64_but_result_fits_is_exact():
    # |terms| exceed int64 but they cancel: Python-int path, still exact
    A = np.array([[2**62, 2**62, -(2**62)]], dtype=np.int64)
    B = np.array([[1], [1], [1]], dtype=np.int64)
    for s in STRATS:
        ug = check_exact(A, B, 4, 4, s)
        assert ug.needs_python_ints


@pytest.mark.parametrize("bad", [
    dict(a_bits=1), dict(a_bits=17), dict(w_bits=0), dict(strategy="diagonal"),
])
def test_bad_arguments(bad):
    kw = dict(a_bits=4, w_bits=4, strategy="row") | bad
    with pytest.raises(UserError):
        unpack_gemm(np.ones((2, 2), dtype=np.int64), np.ones((2, 2), dtype=np.int64), **kw)


def test_shape_and_dtype_errors():
    with pytest.raises(UserError, match="shape mismatch"):
        unpack_gemm(np.ones((2, 3), dtype=int), np.ones((2, 2), dtype=int), 4)
    with pytest.raises(UserError, match="integer"):
        unpack_gemm(np.ones((2, 2)), np.ones((2, 2), dtype=int), 4)
    with pytest.raises(UserError, match="2-D"):
        unpack_gemm(np.ones(3, dtype=int), np.ones((3, 2), dtype=int), 4)


def test_row_strategy_digits_and_plan():
    # b = 4: s = 8. 100 = 4 + 8*4 + 64*1 -> 3 digit rows; -9 = -(1 + 8*1)
    A = np.array([[100, -9], [1, 2]])
    op = unpack_operand(A, 4, "row")
    assert op.X.tolist() == [[4, -1], [1, 2], [4, -1], [1, 0]]
    assert op.line_src.tolist() == [0, 1, 0, 0]
    assert op.line_shift.tolist() == [0, 0, 3, 6]


def test_greedy_both_prefers_the_fuller_line():
    # column 0 holds three heavy entries, row 0 only one more: split column 0 once
    A = np.array([[9, 9], [9, 0], [9, 0]])
    op = unpack_operand(A, 4, "both")
    # first split: column 0 (3 heavy) ; then row 0 has one heavy entry left (col 1) -> row split
    assert op.X.shape == (4, 3)
    assert op.k_src.tolist() == [0, 1, 0] and op.k_shift.tolist() == [0, 0, 3]
    assert op.line_src.tolist() == [0, 1, 2, 0] and op.line_shift.tolist() == [0, 0, 0, 3]


def test_int_matmul_paths_agree():
    rng = np.random.default_rng(5)
    A = rng.integers(-(2**40), 2**40, (4, 6))
    B = rng.integers(-(2**10), 2**10, (6, 3))
    ref = py_matmul(A, B)
    assert np.array_equal(int_matmul(A, B).astype(object), ref)
    assert np.array_equal(int_matmul(A, B, bound=2**70), ref)  # Python-int path


def test_auto_on_operands_that_fit_plans_nothing_and_matches_the_full_search():
    rng = np.random.default_rng(11)
    A = rng.integers(-7, 8, size=(9, 13))
    B = rng.integers(-7, 8, size=(13, 5))
    quick = unpack_gemm(A, B, 4, 4, "auto")
    full = unpack_gemm(A, B, 4, 4, "auto", objective=lambda pair, shape: shape[0] * shape[1] * shape[2])
    assert quick.strategy == full.strategy == "auto(row,row)"
    assert quick.low_shape == full.low_shape == (9, 13, 5) and quick.unpack_ratio == 1.0
    assert np.array_equal(quick.A, A) and np.array_equal(quick.B, B)
