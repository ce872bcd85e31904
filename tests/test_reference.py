"""imsim.reference: the exact product is exact in every regime (checked against Python ints).

The oracle here is plain Python integer arithmetic (`_oracle`), sharing no code with imsim.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from imsim.errors import UserError
from imsim.reference import F32_EXACT, F64_EXACT, exact_matmul, k_bounds, reference_gemm

EXAMPLES = int(os.environ.get("IMSIM_EXACTNESS_EXAMPLES", "300"))


def _oracle(A, B) -> list[list[int]]:
    """A @ B in Python integers, term by term."""
    a = [[int(v) for v in row] for row in np.asarray(A).tolist()]
    b = [[int(v) for v in row] for row in np.asarray(B).tolist()]
    K = len(b)
    n = len(b[0]) if K else np.asarray(B).shape[1]
    return [[sum(row[k] * b[k][j] for k in range(K)) for j in range(n)] for row in a]


def _same(C, ref) -> bool:
    return [[int(v) for v in row] for row in np.asarray(C).tolist()] == ref


@pytest.mark.parametrize("x", [2**26, 2**26 + 1, 2**30 + 1, 94906265, 94906266, 3037000499])
def test_single_products_around_2_to_53(x):
    """x*x straddles 2^53 (94906265^2 < 2^53 < 94906266^2) and beyond: one term, K = 1."""
    A = np.array([[x, -x]], dtype=np.int64).T  # 2 x 1
    B = np.array([[x, x - 1]], dtype=np.int64)  # 1 x 2
    assert _same(reference_gemm(A, B), _oracle(A, B))


def test_the_reported_case_2_30_plus_1_squared():
    assert int(reference_gemm(np.array([[2**30 + 1]]), np.array([[2**30 + 1]]))[0, 0]) == (2**30 + 1) ** 2


@pytest.mark.parametrize("big_k", [0, 3, 7])
def test_one_large_k_term_among_small_ones(big_k):
    """Sized from the average term a chunk would cross 2^53; per-K bounds keep it exact."""
    A = np.ones((3, 8), dtype=np.int64) * 3
    B = np.ones((8, 2), dtype=np.int64) * 5
    A[:, big_k] = [2**40 + 1, -(2**40) - 3, 2**39 + 7]
    B[big_k] = [2**21 + 1, -(2**20) - 1]
    C, method = exact_matmul(A, B)
    assert method == "int64" and _same(C, _oracle(A, B))


def test_products_exactly_at_the_float_boundaries():
    for limit in (F32_EXACT, F64_EXACT):
        for t in (limit - 1, limit, limit + 1):
            A = np.array([[t]], dtype=np.int64)
            B = np.array([[1]], dtype=np.int64)
            assert _same(exact_matmul(A, B)[0], [[t]])
            A2 = np.array([[t, 1]], dtype=np.int64)
            B2 = np.array([[1], [1]], dtype=np.int64)
            assert _same(exact_matmul(A2, B2)[0], [[t + 1]])


def test_paths_by_bound():
    assert exact_matmul(np.array([[2**11]]), np.array([[2**11]]))[1] == "float32"
    assert exact_matmul(np.array([[2**12]]), np.array([[2**12]]))[1] == "float64"
    assert exact_matmul(np.array([[2**27]]), np.array([[2**27]]))[1] == "int64"
    C, m = exact_matmul(np.array([[2**62, 2**62]]), np.array([[4], [4]]))
    assert m == "object" and int(C[0, 0]) == 2**65


def test_k_bounds_are_exact_python_ints_including_int64_min():
    A = np.array([[np.iinfo(np.int64).min, 1]])
    B = np.array([[3], [np.iinfo(np.int64).max]])
    assert k_bounds(A, B) == [2**63 * 3, np.iinfo(np.int64).max]
    assert _same(exact_matmul(A, B)[0], _oracle(A, B))


def test_a_caller_bound_only_skips_the_scan():
    A = np.array([[3, 4]])
    B = np.array([[5], [6]])
    C, m = exact_matmul(A, B, bound=2 * 4 * 6)
    assert m == "float32" and _same(C, [[39]])


def test_reference_refuses_results_beyond_int64_and_non_integers():
    with pytest.raises(UserError, match="does not fit int64"):
        reference_gemm(np.array([[2**62, 2**62]]), np.array([[2], [2]]))
    with pytest.raises(UserError, match="integer"):
        reference_gemm(np.ones((2, 2)), np.ones((2, 2), dtype=np.int64))
    with pytest.raises(UserError, match="shape mismatch"):
        reference_gemm(np.ones((2, 3), dtype=np.int64), np.ones((2, 2), dtype=np.int64))


def test_uint64_beyond_int64_goes_through_python_ints():
    A = np.array([[2**63 + 5]], dtype=np.uint64)
    B = np.array([[1]], dtype=np.uint64)
    C, m = exact_matmul(A, B)
    assert m == "object" and int(C[0, 0]) == 2**63 + 5


def _magnitude_matrices(draw, shape, top_bits):
    """Entries with mixed magnitudes: mostly small, some near 2^top_bits, exact extremes."""
    bits = draw(st.integers(1, top_bits))
    elements = st.one_of(
        st.integers(-3, 3),
        st.integers(-(2**bits), 2**bits),
        st.sampled_from([2**bits - 1, -(2**bits - 1), 2**bits, -(2**bits)]),
    )
    return draw(hnp.arrays(np.int64, shape, elements=elements))


@st.composite
def gemm_operands(draw):
    M, K, N = draw(st.integers(1, 5)), draw(st.integers(1, 40)), draw(st.integers(1, 5))
    A = _magnitude_matrices(draw, (M, K), draw(st.sampled_from([7, 20, 27, 31, 40, 62])))
    B = _magnitude_matrices(draw, (K, N), draw(st.sampled_from([7, 20, 27, 31, 40, 62])))
    # sometimes one K position carries most of the magnitude
    if draw(st.booleans()):
        k = draw(st.integers(0, K - 1))
        A[:, k] = draw(hnp.arrays(np.int64, (M,), elements=st.integers(-(2**45), 2**45)))
    return A, B


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gemm_operands())
def test_exact_matmul_equals_python_ints(ops):
    A, B = ops
    C, _ = exact_matmul(A, B)
    assert _same(C, _oracle(A, B))
