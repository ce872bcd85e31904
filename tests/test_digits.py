"""Digit kinds: signmag vs floor, and `floor` reproducing the paper's unpack_row / unpack_column /
unpack_both (applied to A, then to B^T) shape for shape, checked against an independent numpy
re-implementation of the official algorithm (written here from reading it, not imported)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from imsim.digits import DIGITS, check_digits, entry_levels, split
from imsim.errors import UserError
from imsim.quantize import quantize_rtn
from imsim.unpack import exact_product, reference_gemm, unpack_gemm, unpack_operand

# ------------------------------------------------------------------ the official algorithm, in numpy
# Conventions of the official code: B is held transposed (N x K); `scales` are K-axis weights;
# Pi_indices / Pi_scales say which original line an unpacked line adds into, and at what weight.


def _paper_row(A: np.ndarray, s: int):
    blocks = [A.copy()]
    idx = [np.arange(A.shape[0])]
    sc = [np.ones(A.shape[0], dtype=object)]
    while True:
        last = blocks[-1]
        mask = (np.abs(last) >= s).any(axis=1)
        if not mask.any():
            break
        low, high = last % s, last // s  # numpy // and % on ints are floor, like torch's
        last[mask, :] = low[mask, :]
        blocks.append(high[mask, :])
        idx.append(idx[-1][mask])
        sc.append(sc[-1][mask] * s)
    return np.concatenate(blocks, 0), np.concatenate(idx), np.concatenate(sc)


def _paper_column(A: np.ndarray, Bt: np.ndarray, scales: np.ndarray, s: int):
    As, Bs, ss = [A.copy()], [Bt.copy()], [scales]
    while True:
        last = As[-1]
        mask = (np.abs(last) >= s).any(axis=0)
        if not mask.any():
            break
        low, high = last % s, last // s
        last[:, mask] = low[:, mask]
        As.append(high[:, mask])
        Bs.append(Bs[-1][:, mask])
        ss.append(ss[-1][mask] * s)
    return np.concatenate(As, 1), np.concatenate(Bs, 1), np.concatenate(ss)


def _paper_both(A: np.ndarray, Bt: np.ndarray, scales: np.ndarray, s: int):
    M, K = A.shape
    U = A.copy()
    V = Bt.copy()
    scales = scales.copy()
    pi, ps = np.arange(M), np.ones(M, dtype=object)
    ip, jp = M, K
    while True:
        over = np.abs(U) >= s
        per_row, per_col = over.sum(axis=1), over.sum(axis=0)
        i, j = int(np.argmax(per_row)), int(np.argmax(per_col))  # first maximum, like torch.max
        if per_row[i] == 0 and per_col[j] == 0:
            break
        if per_row[i] >= per_col[j]:
            if ip >= U.shape[0]:  # grow by M zero rows
                U = np.concatenate([U, np.zeros((M, U.shape[1]), dtype=U.dtype)], 0)
                pi = np.concatenate([pi, np.zeros(M, dtype=pi.dtype)])
                ps = np.concatenate([ps, np.zeros(M, dtype=object)])
            vals = U[i, :].copy()
            U[ip, :], U[i, :] = vals // s, vals % s
            pi[ip], ps[ip] = pi[i], ps[i] * s
            ip += 1
        else:
            if jp >= U.shape[1]:  # grow by K zero columns
                U = np.concatenate([U, np.zeros((U.shape[0], K), dtype=U.dtype)], 1)
                V = np.concatenate([V, np.zeros((V.shape[0], K), dtype=V.dtype)], 1)
                scales = np.concatenate([scales, np.zeros(K, dtype=object)])
            vals = U[:, j].copy()
            U[:, jp], U[:, j] = vals // s, vals % s
            V[:, jp] = V[:, j]
            scales[jp] = scales[j] * s
            jp += 1
    return U[:ip, :jp], V[:, :jp], pi[:ip], ps[:ip], scales[:jp]


def paper_unpack(A: np.ndarray, Bt: np.ndarray, scales: np.ndarray, s: int, strategy: str):
    """(A_u, B_u, Pi_indices, Pi_scales, scales) of the official `unpack` for one operand."""
    if strategy == "row":
        Au, pi, ps = _paper_row(A, s)
        return Au, Bt, pi, ps, scales
    if strategy == "col":
        Au, Bu, sc = _paper_column(A, Bt, scales, s)
        return Au, Bu, np.arange(Au.shape[0]), np.ones(Au.shape[0], dtype=object), sc
    return _paper_both(A, Bt, scales, s)


def paper_gemm(A: np.ndarray, B: np.ndarray, bits: int, strategy: str):
    """The official two-step GEMM unpack (A, then B^T with the roles swapped): the low-bit
    shape (M', K', N') and the recombined C (Python integers), rebuilt like the official check."""
    s = 1 << (bits - 1)
    Bt = B.T.copy()
    Au, Be, api, aps, sc = paper_unpack(A, Bt, np.ones(A.shape[1], dtype=object), s, strategy)
    Beu, Aue, bpi, bps, scc = paper_unpack(Be, Au, sc, s, strategy)
    P = (Aue.astype(object) * scc[None, :]) @ Beu.T.astype(object)
    C = np.zeros((A.shape[0], Beu.shape[0]), dtype=object)
    np.add.at(C, api, P * aps[:, None])
    C2 = np.zeros((A.shape[0], B.shape[1]), dtype=object)
    np.add.at(C2.T, bpi, C.T * bps[:, None])
    return (Aue.shape[0], Aue.shape[1], Beu.shape[0]), C2


# ------------------------------------------------------------------ digits


def test_digit_kinds_and_check():
    assert DIGITS == ("signmag", "floor")
    with pytest.raises(UserError, match="digits"):
        check_digits("trunc")
    x = np.array([-3, 1, -1, 5, -5, -4, 7, -7])
    assert entry_levels(x, 1, "signmag").tolist() == [2, 1, 1, 3, 3, 3, 3, 3]
    assert entry_levels(x, 1, "floor").tolist() == [3, 1, 1, 3, 4, 3, 3, 4]
    assert split(np.array([-3]), 1, "floor")[0].tolist() == [1]  # -3 % 2, -3 // 2 = -2
    assert split(np.array([-3]), 1, "floor")[1].tolist() == [-2]
    assert [v.tolist() for v in split(np.array([-3]), 1, "signmag")] == [[-1], [-1]]


def test_issue_example_signmag_two_rows_floor_three():
    A = np.array([[-3, 1]])
    assert unpack_operand(A, 2, "row").X.shape == (2, 2)
    assert unpack_operand(A, 2, "row", "floor").X.shape == (3, 2)


@settings(max_examples=80, deadline=None)
@given(x=hnp.arrays(np.int64, st.integers(1, 40), elements=st.integers(-(2**40), 2**40)),
       bits=st.integers(2, 16), digits=st.sampled_from(DIGITS))
def test_digits_rebuild_the_entry_and_stay_in_range(x, bits, digits):
    sbits = bits - 1
    lim = (1 << sbits) - 1
    lv = entry_levels(x, sbits, digits)
    cur, total = x.copy(), np.zeros_like(x)
    for level in range(int(lv.max())):
        last = lv == level + 1
        low, hi = split(cur, sbits, digits)
        d = np.where(last, cur, low)  # the top level keeps the whole (in-range) rest
        assert np.all(np.abs(d[lv > level]) <= lim)
        total += np.where(lv > level, d << (level * sbits), 0)
        cur = hi
    assert np.array_equal(total, x)
    assert np.all(entry_levels(x, sbits, "signmag") <= entry_levels(x, sbits, "floor"))


# ------------------------------------------------------------------ floor digits == the paper's code


def _float_case(rng: np.random.Generator, dist: str, shape: tuple[int, int]) -> np.ndarray:
    if dist == "normal":
        x = rng.standard_normal(shape)
    elif dist == "t3":
        x = rng.standard_t(3, size=shape)
    elif dist == "lognormal":
        x = rng.lognormal(0.0, 1.5, shape) * rng.choice([-1, 1], shape)
    else:  # uniform body with a few planted outliers in some channels
        x = rng.uniform(-1, 1, shape)
        cols = rng.choice(shape[1], max(1, shape[1] // 8), replace=False)
        x[:, cols] *= rng.uniform(5, 50, cols.size)
    return x.astype(np.float32)


def _cases(n: int, seed: int):
    rng = np.random.default_rng(seed)
    dists = ("normal", "t3", "lognormal", "outlier_channels")
    for i in range(n):
        M = 1 if i % 5 == 0 else int(rng.integers(1, 20))
        K, N = int(rng.integers(1, 20)), int(rng.integers(1, 20))
        bits = (2, 4, 8)[i % 3]
        d = int(rng.integers(1, 128)) * 2 + 1  # odd, 3..255
        beta = float(rng.choice([0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 1.0]))
        A = _float_case(rng, dists[i % 4], (M, K))
        B = _float_case(rng, dists[(i // 4) % 4], (K, N))
        yield A, B, bits, d, beta


@pytest.mark.parametrize("seed", range(4))
def test_floor_digits_reproduce_the_paper_unpack(seed):
    for A, B, bits, d, beta in _cases(40, seed):
        qa = quantize_rtn(A, bits, beta, levels=d, name="A").q
        qb = quantize_rtn(B, bits, beta, levels=d, name="B").q
        ref = reference_gemm(qa, qb)
        for strategy in ("row", "col", "both"):
            shape, C_paper = paper_gemm(qa, qb, bits, strategy)
            assert np.array_equal(C_paper.astype(np.int64), ref)  # the oracle itself is exact
            ug = unpack_gemm(qa, qb, bits, bits, strategy, digits="floor")
            assert ug.low_shape == shape, (strategy, bits, d, beta, qa.shape, qb.shape)
            assert np.array_equal(exact_product(ug), ref)
            sm = unpack_gemm(qa, qb, bits, bits, strategy)
            assert sm.macs <= ug.macs


@settings(max_examples=60, deadline=None)
@given(A=hnp.arrays(np.int64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=12), elements=st.integers(-300, 300)),
       n=st.integers(1, 12), bits=st.sampled_from([2, 3, 4, 8]), strategy=st.sampled_from(["row", "col", "both", "auto"]),
       data=st.data())
def test_signmag_never_costlier_than_floor(A, n, bits, strategy, data):
    B = data.draw(hnp.arrays(np.int64, (A.shape[1], n), elements=st.integers(-300, 300)))
    floor = unpack_gemm(A, B, bits, bits, strategy, digits="floor")
    sm = unpack_gemm(A, B, bits, bits, strategy, digits="signmag")
    assert sm.macs <= floor.macs
    assert sm.digits == "signmag" and floor.digits == "floor"


def test_cli_floor_digits_give_the_paper_ratio(tmp_path, capsys):
    """`imsim unpack F.npz --bits B --beta .. --levels d --quantizer paper --digits floor` on
    float32 operands reports the official code's unpack ratio for row, col and both."""
    import json

    from imsim.cli import main

    for n, (A, B, bits, d, beta) in enumerate(_cases(12, seed=9)):
        path = tmp_path / f"g{n}.npz"
        np.savez(path, A=A, B=B)
        assert main(["unpack", str(path), "--bits", str(bits), "--beta", repr(beta), "--levels", str(d),
                     "--quantizer", "paper", "--digits", "floor", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        qa = quantize_rtn(A, bits, beta, levels=d).q
        qb = quantize_rtn(B, bits, beta, levels=d).q
        for row in out["strategies"]:
            if row["strategy"] in ("row", "col", "both"):
                (m, k, n_), _ = paper_gemm(qa, qb, bits, row["strategy"])
                assert row["unpack_ratio"] == pytest.approx(m * k * n_ / qa.size / qb.shape[1], rel=1e-12)
                assert row["exact"] is True
