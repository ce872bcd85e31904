"""Exactness end to end, against an oracle that shares no code with imsim.

* `_oracle_pass` re-implements the documented execution semantics (imsim.execute's docstring) in
  plain Python integers: products shifted by their K shift, accumulated in K order, per dataflow
  (os: one running sum over K; ws/is: a fresh sum per fold of `rows` K lines, added into a
  C-buffer partial), every intermediate checked against the accumulator range, wrap or saturate.
* The property tests drive imsim's array execution and recombination over the regimes where
  float shortcuts could fail: huge single products, large K shifts, accumulators within +-2 bits
  of the magnitude the sums reach, every overflow policy and dataflow.
* The corruption tests break the unpacker on purpose and see every entry point report it.

The default suite runs a few hundred examples; IMSIM_EXACTNESS_EXAMPLES=100000 runs the long one.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from imsim.errors import AccumulatorOverflow
from imsim.execute import run_pass, run_passes
from imsim.hwconfig import HwConfig
from imsim.recombine import recombine_exact
from imsim.unpack import unpack_gemm

EXAMPLES = int(os.environ.get("IMSIM_EXACTNESS_EXAMPLES", "300"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------- the oracle


def _wrap(v: int, bits: int) -> int:
    m = 1 << bits
    return ((v + (m >> 1)) % m) - (m >> 1)


def _oracle_pass(A, B, k_shift, acc_bits, policy, dataflow, rows):
    """(acc, overflowed elements) of one array pass, in Python ints; raises on 'error'."""
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    M, K = len(A), len(B)
    N = len(B[0]) if K else 0
    fold = K if dataflow == "os" else rows
    acc = [[0] * N for _ in range(M)]
    over = 0
    for i in range(M):
        for j in range(N):
            bad = False
            buf = 0
            for k0 in range(0, K, fold):
                col = 0
                for k in range(k0, min(K, k0 + fold)):
                    col += (A[i][k] * B[k][j]) << k_shift[k]
                    if not lo <= col <= hi:
                        bad = True
                        col = col if policy != "saturate" else min(hi, max(lo, col))
                if k0 == 0:
                    buf = col
                else:
                    buf += col
                    if not lo <= buf <= hi:
                        bad = True
                        buf = buf if policy != "saturate" else min(hi, max(lo, buf))
            if bad and policy == "error":
                raise AccumulatorOverflow("oracle")
            over += bad
            acc[i][j] = _wrap(buf, acc_bits) if (bad and policy == "wrap") else buf
    return acc, over


def _reached_bits(A, B, k_shift, dataflow, rows) -> int:
    """Smallest signed width holding every intermediate of the pass (no overflow policy)."""
    acc, _ = _oracle_pass(A, B, k_shift, 200, "wrap", dataflow, rows)
    worst = 0
    K = len(B)
    fold = K if dataflow == "os" else rows
    for i in range(len(A)):
        for j in range(len(B[0])):
            buf = 0
            for k0 in range(0, K, fold):
                col = 0
                for k in range(k0, min(K, k0 + fold)):
                    col += (A[i][k] * B[k][j]) << k_shift[k]
                    worst = max(worst, abs(col))
                buf = col if k0 == 0 else buf + col
                worst = max(worst, abs(buf))
    return worst.bit_length() + 1


def _ints(X) -> list[list[int]]:
    return [[int(v) for v in row] for row in np.asarray(X).tolist()]


# --------------------------------------------------------------------------- array passes


@st.composite
def passes(draw):
    a_bits, w_bits = draw(st.integers(2, 16)), draw(st.integers(2, 16))
    qa, qw = (1 << (a_bits - 1)) - 1, (1 << (w_bits - 1)) - 1
    M, K, N = draw(st.integers(1, 4)), draw(st.integers(1, 24)), draw(st.integers(1, 4))
    A = [[draw(st.one_of(st.integers(-qa, qa), st.sampled_from([qa, -qa]))) for _ in range(K)] for _ in range(M)]
    B = [[draw(st.one_of(st.integers(-qw, qw), st.sampled_from([qw, -qw]))) for _ in range(N)] for _ in range(K)]
    regime = draw(st.sampled_from(["none", "small", "large", "one_huge"]))
    if regime == "none":
        k_shift = [0] * K
    elif regime == "small":
        k_shift = [draw(st.integers(0, 12)) for _ in range(K)]
    elif regime == "large":
        k_shift = [draw(st.sampled_from([0, 15, 30, 45])) for _ in range(K)]
    else:  # a few K positions carry large shifts (the chunk-sizing trap)
        k_shift = [0] * K
        for k in draw(st.lists(st.integers(0, K - 1), min_size=1, max_size=2)):
            k_shift[k] = draw(st.integers(30, 64 - a_bits - w_bits))
    dataflow = draw(st.sampled_from(["os", "ws", "is"]))
    rows = draw(st.integers(1, 6))
    policy = draw(st.sampled_from(["error", "wrap", "saturate"]))
    need = _reached_bits(A, B, k_shift, dataflow, rows)
    acc_bits = min(64, max(a_bits + w_bits - 1, need + draw(st.integers(-2, 2))))
    return A, B, k_shift, acc_bits, policy, dataflow, rows, a_bits, w_bits


@SETTINGS
@given(passes())
def test_array_pass_matches_the_python_int_oracle(case):
    A, B, k_shift, acc_bits, policy, dataflow, rows, a_bits, w_bits = case
    args = dict(acc_bits=acc_bits, policy=policy, dataflow=dataflow, rows=rows, cols=4)
    An = np.array(A, dtype=np.int64)
    Bn = np.array(B, dtype=np.int64)
    ks = np.array(k_shift, dtype=np.int64)
    try:
        want, want_over = _oracle_pass(A, B, k_shift, acc_bits, policy, dataflow, rows)
    except AccumulatorOverflow:
        with pytest.raises(AccumulatorOverflow):
            run_pass(An, Bn, ks, **args)
        return
    got = run_pass(An, Bn, ks, **args)
    assert _ints(got.acc) == want
    assert got.overflows == want_over


def _crowded_pass():
    """Large shifts on a few K positions among thousands of small terms: the partial sum reaches
    2^59 + 42 in a 60-bit accumulator. A screen that sizes float64 chunks from the average
    per-K term rounds the small terms away and misses it (the reported silent overflow)."""
    a, ks = [], []
    for t in range(58, 5, -1):  # 2^58 + ... + 2^6 = 2^59 - 64
        a += [1, 1, 1]
        ks += [t, 0, 0]          # + 106 ones
    a += [0] * 5000
    ks += [0] * 5000
    A = np.array([a], dtype=np.int64)
    return A, np.ones((A.shape[1], 1), dtype=np.int64), np.array(ks, dtype=np.int64)


def test_partial_sum_of_2_59_plus_42_in_a_60_bit_accumulator_is_seen():
    A, B, ks = _crowded_pass()
    exact = sum(int(x) << int(t) for x, t in zip(A[0], ks))
    assert exact == 2**59 + 42
    with pytest.raises(AccumulatorOverflow):
        run_pass(A, B, ks, acc_bits=60, policy="error", dataflow="os", rows=4, cols=4)
    got = run_pass(A, B, ks, acc_bits=60, policy="wrap", dataflow="os", rows=4, cols=4)
    assert got.overflows == 1 and int(got.acc[0, 0]) == _wrap(exact, 60)
    assert run_pass(A, B, ks, acc_bits=61, policy="error", dataflow="os", rows=4, cols=4).overflows == 0


# --------------------------------------------------------------------------- whole GEMMs


@st.composite
def gemms(draw):
    M, K, N = draw(st.integers(1, 6)), draw(st.integers(1, 12)), draw(st.integers(1, 6))
    top = draw(st.sampled_from([3, 8, 20, 30, 40]))

    def entry():
        return draw(st.one_of(st.integers(-4, 4), st.integers(-(2**top), 2**top),
                              st.sampled_from([2**top, -(2**top), 2**top - 1])))
    A = [[entry() for _ in range(K)] for _ in range(M)]
    B = [[entry() for _ in range(N)] for _ in range(K)]
    return (A, B, draw(st.integers(2, 8)), draw(st.integers(2, 8)),
            draw(st.sampled_from(["row", "col", "both", "auto"])),
            draw(st.sampled_from(["os", "ws", "is"])),
            draw(st.sampled_from(["shift_accumulate", "scale_passes"])),
            draw(st.integers(1, 5)), draw(st.integers(1, 5)))


@SETTINGS
@given(gemms())
def test_unpacked_execution_recombines_to_the_python_int_product(case):
    A, B, a_bits, w_bits, strategy, dataflow, k_scale, rows, cols = case
    An, Bn = np.array(A, dtype=np.int64), np.array(B, dtype=np.int64)
    want = [[sum(A[i][k] * B[k][j] for k in range(len(B))) for j in range(len(B[0]))] for i in range(len(A))]
    ug = unpack_gemm(An, Bn, a_bits, w_bits, strategy)
    hw = HwConfig(rows=rows, cols=cols, a_bits=a_bits, w_bits=w_bits, acc_bits=64, recomb_acc_bits=128,
                  dataflow=dataflow, k_scale=k_scale, overflow="error")
    try:
        ps = run_passes(ug, hw)
    except AccumulatorOverflow:
        # legitimate only when some pass really needs more than 64 bits (checked by the oracle)
        for t in np.unique(ug.plan.k_shift):
            sel = ug.plan.k_shift == t if k_scale == "scale_passes" else np.ones(ug.A.shape[1], bool)
            ks = [0 if k_scale == "scale_passes" else int(v) for v in ug.plan.k_shift[sel]]
            need = _reached_bits(_ints(ug.A[:, sel]), _ints(ug.B[sel]), ks, dataflow, rows)
            if need > 64:
                return
        raise
    rec = recombine_exact(ps, ug.plan, *ug.shape[::2], acc_bits=128, policy="error")
    assert _ints(rec.C) == want


# --------------------------------------------------------------------------- a broken unpacker


@pytest.fixture
def corrupt_unpacker(monkeypatch):
    """Make every imsim module's unpack_gemm return plans whose high digits are wrong."""
    import imsim.unpack as U
    from imsim.unpack import UnpackedGemm

    real = U.unpack_gemm

    def broken(*args, **kwargs):
        ug = real(*args, **kwargs)
        extra = np.flatnonzero(ug.plan.row_shift)  # rows holding high digits
        if extra.size == 0:
            return ug
        A = ug.A.copy()
        i = int(extra[0])
        k = int(np.flatnonzero(np.any(ug.B != 0, axis=1))[0])
        A[i, k] = A[i, k] - 1 if A[i, k] > 0 else A[i, k] + 1
        return UnpackedGemm(A=A, B=ug.B, plan=ug.plan, a_bits=ug.a_bits, w_bits=ug.w_bits,
                            strategy=ug.strategy, shape=ug.shape, abs_bound=ug.abs_bound)

    import imsim.cli.run  # noqa: F401  (load the modules that bind the name)
    import imsim.simulate  # noqa: F401
    from imsim.cli import build_parser

    build_parser()  # every CLI module, so none binds `broken` by being imported while patched
    import imsim.sweep.evaluate  # noqa: F401
    for name, mod in list(sys.modules.items()):
        if name.startswith("imsim") and getattr(mod, "unpack_gemm", None) is real:
            monkeypatch.setattr(mod, "unpack_gemm", broken)
    return broken


def _heavy_operands():
    rng = np.random.default_rng(3)
    A = rng.integers(-7, 8, size=(12, 16))
    A[2, 5] = 900
    A[7, 1] = -4000
    B = rng.integers(-7, 8, size=(16, 10))
    return A, B


def test_broken_unpacker_is_caught_by_the_api(corrupt_unpacker):
    from imsim.simulate import simulate_gemm, simulate_trace

    A, B = _heavy_operands()
    hw = HwConfig(rows=4, cols=4, a_bits=4, w_bits=4)
    ug = corrupt_unpacker(A, B, 4, 4, "row")
    r = simulate_gemm(hw, ug, operands=(A, B), energy=False)
    assert r.exact is False and r.exact_status == "mismatch" and r.first_mismatch is not None
    unchecked = simulate_gemm(hw, ug, energy=False)  # no original operands: never "exact"
    assert unchecked.exact is None and unchecked.exact_status == "unchecked"

    class Rec:
        name, kind, phase, model = "g", "linear", "fwd", "t"

    Rec.A, Rec.B = A, B  # integer records pass through quantization unchanged
    out = simulate_trace(hw, [Rec()], strategy="row")
    assert out[0].exact is False


def test_broken_unpacker_is_caught_by_imsim_run(corrupt_unpacker, capsys):
    import json

    from imsim.cli import main

    # synthetic operands with heavy hitters, so rows are unpacked
    main(["run", "--hw", "default", "--gemm", "32,48,16", "--bits", "4", "--heavy", "0.05",
          "--strategy", "row", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"]["exact"] is False
    assert doc["gemms"][0]["exact"] is False and doc["gemms"][0]["exact_status"] == "mismatch"


def test_broken_unpacker_is_caught_by_the_demo(corrupt_unpacker):
    from imsim.demo import run_demo

    res = run_demo(max_gemms=6, workers=1)
    assert any(r["exact"] is False for r in res.rows)


def test_broken_unpacker_is_caught_by_a_sweep(corrupt_unpacker, tmp_path):
    import pandas as pd

    from imsim.sweep.runner import run_sweep
    from imsim.sweep.spec import parse_spec

    spec = parse_spec({"name": "corrupt", "base": "default",
                       "axes": {"trace": [{"synthetic": {"shapes": [[16, 32, 16]], "heavy_fraction": 0.05}}],
                                "a_bits": [4], "w_bits": [4], "strategy": ["row"], "beta": [0.9]}})
    run_sweep(spec, tmp_path / "out", workers=0)
    gemms = pd.read_parquet(tmp_path / "out" / "results.parquet")
    points = pd.read_parquet(tmp_path / "out" / "totals.parquet")
    assert (gemms["exact"] == False).any()  # noqa: E712
    assert (points["exact"] == False).all()  # noqa: E712
