"""Cheap `auto`: every pair's cost from plans equals the shape of the materialised unpack."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from imsim.unpack import exact_product, reference_gemm, unpack_gemm, unpack_operand
from imsim.unpack_cost import BASE_STRATEGIES, greedy_splits, pair_costs, pair_plans

PAIRS = [(sa, sb) for sa in BASE_STRATEGIES for sb in BASE_STRATEGIES]


def _materialised_shape(A, B, bits, sa, sb, digits):
    """Independent count: unpack A, duplicate B's K rows like A's K', unpack B^T, read shapes."""
    opA = unpack_operand(A, bits, sa, digits)
    B1 = B[opA.k_src]
    opB = unpack_operand(B1.T, bits, sb, digits)
    return opA.X.shape[0], opB.X.shape[1], opB.X.shape[0]


operands = st.integers(1, 10).flatmap(lambda k: st.tuples(
    hnp.arrays(np.int64, st.tuples(st.integers(1, 10), st.just(k)), elements=st.integers(-200, 200)),
    hnp.arrays(np.int64, st.tuples(st.just(k), st.integers(1, 10)), elements=st.integers(-200, 200))))


@settings(max_examples=60, deadline=None)
@given(ab=operands, bits=st.sampled_from([2, 3, 4, 8]), digits=st.sampled_from(["signmag", "floor"]))
def test_pair_costs_equal_the_materialised_counts(ab, bits, digits):
    A, B = ab
    costs = pair_costs(A, B, bits, bits, digits)
    assert set(costs) == set(PAIRS)
    for sa, sb in PAIRS:
        native = _materialised_shape(A, B, bits, sa, sb, digits)
        if digits == "floor" or "both" not in (sa, sb):
            assert costs[(sa, sb)] == native
        else:  # signmag may take the floor plan (filled with signmag digits) when it is cheaper
            alt = _materialised_shape(A, B, bits, sa, sb, "floor")
            assert costs[(sa, sb)] in (native, alt)
            assert np.prod(costs[(sa, sb)]) == min(np.prod(native), np.prod(alt))


@settings(max_examples=40, deadline=None)
@given(ab=operands, bits=st.sampled_from([2, 3, 4]), digits=st.sampled_from(["signmag", "floor"]))
def test_auto_builds_the_cheapest_pair_exactly(ab, bits, digits):
    A, B = ab
    plans = pair_plans(A, B, bits, bits, digits)
    ug = unpack_gemm(A, B, bits, bits, "auto", digits)
    assert ug.macs == min(p.macs for p in plans.values())
    assert ug.low_shape == plans[tuple(ug.strategy[5:-1].split(","))].shape
    assert np.array_equal(exact_product(ug), reference_gemm(A, B))
    for s in BASE_STRATEGIES:
        one = unpack_gemm(A, B, bits, bits, s, digits)
        assert one.low_shape == plans[(s, s)].shape
        assert np.array_equal(exact_product(one), reference_gemm(A, B))


def test_greedy_counts_hand_example():
    # b = 2 (range +-1): row 0 holds two out-of-range entries, column 0 holds two: tie -> the row
    X = np.array([[2, 2, 0], [2, 0, 0]])
    splits, lines, k_src = greedy_splits(X, 2, "signmag")
    # row 0 first (its high part 1, 1 is in range); then row 1 and column 0 hold one each: the row
    assert splits == ((0, 0), (0, 1))
    assert lines == 4 and k_src.tolist() == [0, 1, 2]
    X = np.array([[2, 0], [2, 0], [0, 2]])  # column 0 holds two, every row one: the column
    assert greedy_splits(X, 2, "signmag")[0] == ((1, 0), (0, 2))


def test_auto_minimises_a_given_objective():
    rng = np.random.default_rng(0)
    A = rng.integers(-7, 8, (12, 20))
    A[:, 3] = 300  # one heavy column: col unpacking of A is cheapest by MACs
    B = rng.integers(-7, 8, (20, 6))
    costs = pair_costs(A, B, 4)
    by_macs = unpack_gemm(A, B, 4, 4, "auto")
    assert by_macs.macs == min(m * k * n for m, k, n in costs.values())
    # an objective that charges K' heavily (e.g. a scale-pass-bound design) picks another pair
    fewest_k = unpack_gemm(A, B, 4, 4, "auto", objective=lambda pair, shape: (shape[1], shape[0] * shape[2]))
    assert fewest_k.low_shape[1] == min(k for _, k, _ in costs.values())
    assert np.array_equal(exact_product(fewest_k), reference_gemm(A, B))


@settings(max_examples=60, deadline=None)
@given(ab=operands, bits=st.sampled_from([2, 3, 4, 8]), digits=st.sampled_from(["signmag", "floor"]))
def test_pruned_search_picks_the_same_pair_as_planning_all(ab, bits, digits):
    from imsim.unpack_cost import cheapest_pair

    A, B = ab
    plans = pair_plans(A, B, bits, bits, digits)
    want = min(plans.items(), key=lambda kv: kv[1].macs)  # first minimum in pair order
    got = cheapest_pair(A, B, bits, bits, digits, PAIRS)
    assert got[0] == want[0] and got[1].shape == want[1].shape


def test_matching_bounds_the_greedy():
    from imsim.unpack_cost import matching_size

    rng = np.random.default_rng(4)
    for _ in range(20):
        X = rng.integers(-40, 41, (9, 11))
        splits, lines, k_src = greedy_splits(X, 4, "signmag")
        assert len(splits) >= matching_size(X, 4)


def test_signmag_both_takes_the_floor_lines_when_the_greedy_does_better_there():
    # b = 3 (range +-3): the greedy splits 6 rows + 1 column under signmag digits (10 x 5) but
    # 8 rows under floor digits (12 x 4); signmag fills the floor plan's lines with its own digits
    A = np.array([[19, -10, -3, 2], [6, -2, -14, 18], [8, -19, 13, 10], [-13, 5, 0, -19]])
    B = np.ones((4, 3), dtype=np.int64)
    assert greedy_splits(A, 3, "signmag")[1:] != greedy_splits(A, 3, "floor")[1:]
    sm = unpack_gemm(A, B, 3, 3, "both")
    fl = unpack_gemm(A, B, 3, 3, "both", "floor")
    assert sm.low_shape == fl.low_shape == (12, 4, 3)
    assert np.abs(sm.A).max() <= 3 and sm.digits == "signmag"
    assert not np.array_equal(sm.A, fl.A)  # same lines, different digits
    assert np.array_equal(exact_product(sm), reference_gemm(A, B))
    assert np.array_equal(exact_product(fl), reference_gemm(A, B))


@settings(max_examples=60, deadline=None)
@given(X=hnp.arrays(np.int64, st.tuples(st.integers(1, 9), st.integers(1, 9)), elements=st.integers(-300, 300)),
       bits=st.sampled_from([2, 3, 4, 8]), digits=st.sampled_from(["signmag", "floor"]))
def test_heavy_entries_give_the_dense_line_levels_and_bounds(X, bits, digits):
    from imsim.digits import entry_levels
    from imsim.heavy import find_heavy
    from imsim.unpack_cost import line_levels, matching_size

    h = find_heavy(X, bits)
    for axis in (0, 1):
        assert np.array_equal(h.line_levels(axis, digits), line_levels(X, bits, axis, digits))
    t = h.transposed()
    assert np.array_equal(t.line_levels(0, digits), line_levels(X.T, bits, 0, digits))
    assert t.matching_size() == matching_size(np.ascontiguousarray(X.T), bits)
    dense = [entry_levels(X.reshape(-1), bits - 1, d) for d in ("signmag", "floor")]
    assert h.kinds_agree() == np.array_equal(*dense)
    assert h.count == int(np.count_nonzero(dense[1] > 1))


def test_b_least_bounds_every_b_plan_of_every_a_plan():
    from imsim.unpack_cost import _b_plan, _Planner

    rng = np.random.default_rng(9)
    for _ in range(30):
        A = rng.integers(-30, 31, (6, 7))
        B = rng.integers(-30, 31, (7, 5))
        for digits in ("signmag", "floor"):
            planner = _Planner(A, B, 4, 4, digits)
            for sb in BASE_STRATEGIES:
                extra_k, n_low = planner.b_least(sb)
                for sa in BASE_STRATEGIES:
                    for pa in ("signmag", "floor"):  # every A plan, of either digit kind
                        a = planner.a_plan(sa, pa)
                        for pb in {digits, "floor"}:  # B's candidate digit kinds under `digits`
                            b = _b_plan(planner.B, a, sb, pb, planner.b_cache)
                            assert b.k_positions >= a.k_positions + extra_k and b.lines >= n_low
                            if sb == "row":
                                assert b.lines == n_low or pb != digits
