"""Recombination unit: op counts, exposed cycles, exact shift-and-add with its own accumulator."""
import numpy as np
import pytest

from imsim.errors import AccumulatorOverflow
from imsim.execute import PassResult
from imsim.recombine import block_ops, exposed_cycles, recombine_exact, total_ops
from imsim.unpack import low_bit_product, recombine, unpack_gemm


def test_op_counts():
    assert block_ops(16, 16, 16, 16) == 0
    assert block_ops(16, 10, 16, 16) == 6 * 16
    assert block_ops(8, 0, 4, 4) == 32
    assert total_ops(1, 40, 30, 32, 30) == 8 * 30
    assert total_ops(3, 32, 30, 32, 30) == 2 * 32 * 30


def test_exposed_cycles_is_the_part_after_the_array():
    assert exposed_cycles([(0.0, 5.0), (10.0, 14.0)], 12.0) == 2.0
    assert exposed_cycles([(0.0, 5.0)], 12.0) == 0.0
    assert exposed_cycles([(20.0, 30.0)], 12.0) == 10.0


def _heavy_gemm(seed: int, M: int, K: int, N: int, frac: float, scale_a: int, scale_b: int):
    """Int4-range A (M x K), B (K x N) with a fraction `frac` of entries scaled up (heavy hitters)."""
    rng = np.random.default_rng(seed)
    A = rng.integers(-7, 8, size=(M, K))
    B = rng.integers(-7, 8, size=(K, N))
    A[rng.random(A.shape) < frac] *= scale_a
    B[rng.random(B.shape) < frac] *= scale_b
    return A, B


@pytest.mark.parametrize("strategy", ["row", "col", "both"])
def test_matches_the_unpack_engine(strategy):
    A, B = _heavy_gemm(3, 20, 30, 25, 0.1, 37, 41)
    ug = unpack_gemm(A, B, 4, 4, strategy)
    P = low_bit_product(ug)
    C = recombine_exact([PassResult(P, 0, 0, "x")], ug.plan, 20, 25, acc_bits=64, policy="error").C
    assert np.array_equal(C, recombine(P, ug.plan, 20, 25))
    assert np.array_equal(C, A @ B)


def _crafted():
    # 300 = 44 + 2 * 128 at 8 bits: one extra row shifted by 7 bits; B = 120
    ug = unpack_gemm(np.array([[300]]), np.array([[120]]), 8, 8, "row")
    passes = [PassResult(ug.A.astype(np.int64) @ ug.B.astype(np.int64), 0, 0, "x")]
    assert passes[0].acc.ravel().tolist() == [44 * 120, 2 * 120]
    return ug, passes  # exact C = 36000 > 2^15 - 1


def test_recomb_accumulator_policies():
    ug, passes = _crafted()
    wrap = recombine_exact(passes, ug.plan, 1, 1, acc_bits=16, policy="wrap")
    assert wrap.C.tolist() == [[36000 - 65536]] and wrap.overflows == 1
    sat = recombine_exact(passes, ug.plan, 1, 1, acc_bits=16, policy="saturate")
    assert sat.C.tolist() == [[32767]]
    with pytest.raises(AccumulatorOverflow, match="36000"):
        recombine_exact(passes, ug.plan, 1, 1, acc_bits=16, policy="error", name="g")
    ok = recombine_exact(passes, ug.plan, 1, 1, acc_bits=17, policy="error")
    assert ok.C.tolist() == [[36000]] and ok.overflows == 0


def test_scale_pass_shifts_are_applied():
    plan_ug = unpack_gemm(np.array([[3]]), np.array([[5]]), 8, 8, "row")
    passes = [PassResult(np.array([[10]]), 0, 0, "x"), PassResult(np.array([[1]]), 7, 0, "x")]
    C = recombine_exact(passes, plan_ug.plan, 1, 1, acc_bits=64, policy="error").C
    assert C.tolist() == [[10 + 128]]


def test_lines_group_by_digit_level_with_slices_where_contiguous():
    from imsim.recombine import _groups, _index

    # rows 0..3 are the originals; rows 4, 5 are extra digits of rows 1 and 3, row 6 row 1's third
    src = np.array([0, 1, 2, 3, 1, 3, 1])
    shift = np.array([0, 0, 0, 0, 7, 7, 14])
    g0, g1, g2 = _groups(src, shift)
    assert g0.pos == slice(0, 4) and g0.dst == slice(0, 4) and not g0.shifted and g0.max_shift == 0
    assert g1.pos == slice(4, 6) and g1.dst_lines.tolist() == [1, 3] and g1.shift.tolist() == [7, 7]
    assert g2.pos == slice(6, 7) and g2.dst == slice(1, 2) and g2.shifted and g2.max_shift == 14
    assert _index([2, 4, 5]).tolist() == [2, 4, 5]
    assert _index([0, 2, 1, 3]).tolist() == [0, 2, 1, 3]  # endpoints alone mislead
    assert _index([5]) == slice(5, 6)
    # the destinations of a level need not be ascending: the block lands through an index array
    g0, g1 = _groups(np.array([0, 1, 2, 2, 0]), np.array([0, 0, 0, 7, 7]))
    assert g0.pos == slice(0, 3) and g1.pos == slice(3, 5) and g1.dst.tolist() == [2, 0]


@pytest.mark.parametrize("strategy", ["row", "col", "both"])
def test_order_free_fold_equals_the_level_by_level_checked_sums(strategy, monkeypatch):
    import imsim.recombine as rc

    A, B = _heavy_gemm(11, 12, 15, 9, 0.15, 300, 300)
    ug = unpack_gemm(A, B, 4, 4, strategy)
    P = low_bit_product(ug)
    passes = [PassResult(P, 0, 0, "x"), PassResult(P // 3, 2, 0, "x")]  # two passes, one shifted
    want = recombine(P, ug.plan, 12, 9) + (recombine(P // 3, ug.plan, 12, 9) << 2)  # the unpack engine's
    calls = []
    real = rc._fold
    monkeypatch.setattr(rc, "_fold", lambda *a: calls.append(1) or real(*a))
    fast = recombine_exact(passes, ug.plan, 12, 9, acc_bits=64, policy="error")
    assert calls and np.array_equal(fast.C, want) and fast.overflows == 0
    # narrower accumulators that the cheap bound exceeds take the checked level-by-level path,
    # which agrees wherever it sees no overflow
    checked_clean = 0
    for acc_bits in range(int(np.abs(want).max()).bit_length(), 64):
        calls.clear()
        ordered = recombine_exact(passes, ug.plan, 12, 9, acc_bits=acc_bits, policy="wrap")
        if not calls and ordered.overflows == 0:
            checked_clean += 1
            assert np.array_equal(ordered.C, want)
    # (col plans split only K: C's lines fold 1:1, the bound is tight, and no width both needs
    # the check and passes it)
    assert checked_clean > 0 or strategy == "col"
