"""Tests for imsim.formats: eXmY formats, rounding, ml_dtypes agreement, exact integer GEMMs."""
from __future__ import annotations

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from imsim.errors import UserError
from imsim.formats import (ExmyFormat, decode, decode_exact, encode, parse_format, quantize,
                           quantize_operands_exmy, special_masks)

ML_FORMATS = ["float8_e4m3fn", "float8_e5m2", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn"]


def all_formats_up_to_8_bits():
    out = []
    for X in range(0, 8):
        for Y in range(0, 8 - X):
            for sp in ("none", "nan", "ieee"):
                for bias in (None, 3):
                    try:
                        out.append(ExmyFormat(X, Y, bias, sp))
                    except UserError:
                        pass
    return out


FORMATS_8 = all_formats_up_to_8_bits()


def test_format_count_covers_every_x_y() -> None:
    xy = {(f.exp_bits, f.man_bits) for f in FORMATS_8}
    assert xy == {(X, Y) for X in range(8) for Y in range(8 - X) if (X, Y) != (0, 0)}
    assert len(FORMATS_8) > 90


@pytest.mark.parametrize("fmt", FORMATS_8, ids=lambda f: f.name)
def test_every_code_round_trips(fmt: ExmyFormat) -> None:
    codes = np.arange(1 << fmt.width)
    vals = decode(codes, fmt)
    inf, nan = special_masks(codes, fmt)
    assert np.array_equal(np.isnan(vals), nan) and np.array_equal(np.isinf(vals), inf)
    ok = ~nan
    np.testing.assert_array_equal(encode(vals[ok], fmt), codes[ok])
    np.testing.assert_array_equal(np.signbit(vals[ok]), codes[ok] >> (fmt.width - 1) == 1)
    if nan.any():
        back = encode(np.array([np.nan, -np.nan]), fmt)
        assert special_masks(back, fmt)[1].all()
    fin = ~nan & ~inf
    n, e = decode_exact(codes[fin], fmt)
    assert np.array_equal(np.ldexp(n.astype(float), e.astype(np.int32)), vals[fin])
    pos = fin & (codes < (1 << (fmt.width - 1)))
    assert (np.diff(vals[pos]) > 0).all()  # positive codes are strictly increasing values
    assert vals[pos].max() == fmt.max_finite
    assert vals[pos][1] == fmt.smallest_subnormal


@pytest.mark.parametrize("name", ML_FORMATS)
def test_decode_matches_ml_dtypes(name: str) -> None:
    fmt = parse_format(name)
    dt = fmt.ml_dtype()
    assert dt == np.dtype(getattr(ml_dtypes, name))
    codes = np.arange(1 << fmt.width, dtype=np.uint8)
    ref = codes.view(dt).astype(np.float64)
    np.testing.assert_array_equal(decode(codes, fmt), ref)
    assert fmt.max_finite == float(ml_dtypes.finfo(dt).max)
    assert fmt.smallest_subnormal == float(ml_dtypes.finfo(dt).smallest_subnormal)


def hard_inputs(fmt: ExmyFormat, rng: np.random.Generator, n: int = 20000) -> np.ndarray:
    """float32 inputs: random magnitudes across (and beyond) the range, every tie, overflow."""
    vals = decode(np.arange(1 << fmt.width), fmt)
    grid = np.unique(np.abs(vals[np.isfinite(vals)]))
    ulp_top = grid[-1] - grid[-2]
    ties = (grid[1:] + grid[:-1]) / 2
    over = grid[-1] + ulp_top * np.array([0.25, 0.5, 0.5000001, 0.75, 1.0, 1.5, 100.0])
    lo, hi = np.log2(fmt.smallest_subnormal) - 3, np.log2(fmt.max_finite) + 3
    rand = np.exp2(rng.uniform(lo, hi, n)) * rng.choice([-1.0, 1.0], n)
    sub = rng.uniform(0, 2 * np.exp2(fmt.e_min + fmt.man_bits), n // 4)  # subnormal range
    x = np.concatenate([rand, sub, ties, -ties, over, -over, [0.0, -0.0, np.inf, -np.inf]])
    return x.astype(np.float32)


@pytest.mark.parametrize("name", ML_FORMATS)
def test_nearest_matches_ml_dtypes_bit_for_bit(name: str) -> None:
    fmt = parse_format(name)
    x = hard_inputs(fmt, np.random.default_rng(7))
    ref = x.astype(fmt.ml_dtype()).view(np.uint8)
    got = encode(x.astype(np.float64), fmt)
    np.testing.assert_array_equal(got, ref)
    # the saturating variant equals ml_dtypes after clipping to +-max
    sat = ExmyFormat(fmt.exp_bits, fmt.man_bits, specials=fmt.specials, saturate=True)
    clipped = np.clip(x, -fmt.max_finite, fmt.max_finite).astype(fmt.ml_dtype()).view(np.uint8)
    np.testing.assert_array_equal(encode(x.astype(np.float64), sat), clipped)


@pytest.mark.parametrize("name", ML_FORMATS)
@pytest.mark.parametrize("gran", ["tensor", "row", "block"])
def test_scaled_quantize_matches_ml_dtypes(name: str, gran: str) -> None:
    fmt = parse_format(name)
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((8, 64)) * np.exp2(rng.uniform(-6, 6, (8, 64)))).astype(np.float32)
    q = quantize(x.astype(np.float64), fmt, gran, scale="pow2", block_size=16)
    scaled = np.ldexp(x, np.broadcast_to(q.scale_exp, x.shape).astype(np.int32))  # exact in float32
    np.testing.assert_array_equal(q.codes, scaled.astype(fmt.ml_dtype()).view(np.uint8))
    grid = np.unique(np.abs(decode(np.arange(1 << fmt.width), fmt)))
    grid = grid[np.isfinite(grid)]
    mag = np.abs(scaled.astype(np.float64))
    down = grid[np.searchsorted(grid, mag, side="right") - 1]  # largest grid value <= |s|
    up = grid[np.minimum(np.searchsorted(grid, mag, side="left"), grid.size - 1)]  # smallest >= |s|
    for seed in (0, 1):  # stochastic rounding picks one of the two neighbours, sign kept
        qs = quantize(x.astype(np.float64), fmt, gran, "stochastic", np.random.default_rng(seed), scale="pow2",
                      block_size=16)
        v = decode(qs.codes, fmt)
        assert ((np.abs(v) == down) | (np.abs(v) == up)).all()
        assert (np.signbit(v) == np.signbit(x)).all()
        assert ((np.abs(v) == down) & (down != up)).any() and ((np.abs(v) == up) & (down != up)).any()


def test_overflow_per_family() -> None:
    big = np.array([1e6, -1e6, np.inf])
    e4 = parse_format("e4m3fn")
    assert np.isnan(decode(encode(big, e4), e4)).all()
    e5 = parse_format("e5m2ieee")
    np.testing.assert_array_equal(decode(encode(big, e5), e5), [np.inf, -np.inf, np.inf])
    e2 = parse_format("e2m3")
    np.testing.assert_array_equal(decode(encode(big, e2), e2), [7.5, -7.5, 7.5])
    # e4m3fn: 464 is the tie between 448 (max, even) and 480 (the NaN code): stays 448
    assert decode(encode(np.array([464.0, 464.01]), e4), e4)[0] == 448.0
    assert np.isnan(decode(encode(np.array([464.01]), e4), e4)[0])
    # e5m2: the tie above max (odd mantissa) rounds to even = 2^16 = inf
    assert decode(encode(np.array([61440.0, 61439.0]), e5), e5).tolist() == [np.inf, 57344.0]


def test_float64_rounded_once_not_via_float32() -> None:
    """Just above the e4m3 tie 1.0625 the correct result is 1.125; rounding to float32 first
    lands on the tie and then on 1.0 (double rounding; ml_dtypes < 0.7 did this)."""
    x = np.array([1 + 2**-4 + 2**-40])
    e4 = parse_format("float8_e4m3fn")
    assert decode(encode(x, e4), e4)[0] == 1.125
    assert float(np.float32(x[0])) == 1.0625  # the float32 detour really is the tie


def test_known_formats() -> None:
    assert parse_format("fp8_e4m3").max_finite == 448.0
    assert parse_format("e4m3").max_finite == 480.0  # all codes finite
    assert parse_format("fp8_e5m2").max_finite == 57344.0
    assert parse_format("e5m2").max_finite == 114688.0
    assert parse_format("e2m1").max_finite == 6.0 and parse_format("e3m2").max_finite == 28.0
    e0m7 = parse_format("e0m7")
    assert e0m7 == parse_format("int8") and e0m7.bias == -6
    vals = decode(np.arange(256), e0m7)
    assert set(vals.tolist()) == set(range(-127, 128))
    assert e0m7.significand_bits == 8 and parse_format("e2m3").significand_bits == 5
    assert parse_format("e4m3_b8").max_finite == 240.0
    assert parse_format("e4m3fn_sat").saturate and not parse_format("e4m3fn").saturate
    for f in FORMATS_8 + [ExmyFormat(5, 10, 20, "ieee", True), ExmyFormat(15, 0)]:
        assert parse_format(f.name) == f


@pytest.mark.parametrize("text", ["e9m7", "e0m0", "x4m3", "e1m0fn", "e1m3ieee", "fp8_e4m2", "int1", "e4m3fn_b",
                                  "e2m3_bx", 7])
def test_parse_errors(text) -> None:
    with pytest.raises(UserError):
        parse_format(text)


def test_format_field_errors() -> None:
    for kw in ({"exp_bits": -1, "man_bits": 2}, {"exp_bits": 2, "man_bits": 2, "specials": "x"},
               {"exp_bits": 2, "man_bits": 2, "saturate": False}, {"exp_bits": 2.0, "man_bits": 2}):
        with pytest.raises(UserError):
            ExmyFormat(**kw)
    with pytest.raises(UserError):
        encode(np.array([np.nan]), parse_format("e2m3"))


def test_stochastic_rounding_neighbours_seeded_unbiased() -> None:
    fmt = parse_format("e2m1")
    x = np.full(40000, 2.4)  # between 2 and 3
    q1 = decode(encode(x, fmt, "stochastic", np.random.default_rng(1)), fmt)
    q2 = decode(encode(x, fmt, "stochastic", np.random.default_rng(1)), fmt)
    np.testing.assert_array_equal(q1, q2)
    assert set(np.unique(q1).tolist()) == {2.0, 3.0}
    assert abs(q1.mean() - 2.4) < 0.02  # p(3) = 0.4
    grid = decode(np.arange(16), fmt)
    np.testing.assert_array_equal(decode(encode(grid, fmt, "stochastic", np.random.default_rng(0)), fmt), grid)
    sub = np.full(40000, 0.1)  # subnormal spacing 0.5: p(0.5) = 0.2
    qs = decode(encode(sub, fmt, "stochastic", np.random.default_rng(2)), fmt)
    assert set(np.unique(qs).tolist()) == {0.0, 0.5} and abs(qs.mean() - 0.1) < 0.01
    with pytest.raises(UserError):
        encode(x, fmt, "stochastic")


@pytest.mark.parametrize("gran", ["tensor", "row", "column", "block"])
def test_quantize_scales(gran: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 40)) * np.exp2(rng.integers(-5, 5, (6, 1)))
    fmt = parse_format("e3m2")
    q = quantize(x, fmt, gran, block_size=8)
    vals = np.abs(decode(q.codes, fmt))
    axis = {"tensor": None, "row": 1, "column": 0, "block": None}[gran]
    if gran == "block":
        for c0 in range(0, 40, 8):
            assert (vals[:, c0:c0 + 8].max(axis=1) == fmt.max_finite).all()
    else:
        assert (vals.max(axis=axis) == fmt.max_finite).all()
    assert np.allclose(q.dequantize(), x, rtol=0.13, atol=np.abs(x).max() * 2**-5)
    p = quantize(x, fmt, gran, scale="pow2", block_size=8)
    assert (p.scale_mant == 1.0).all()
    amax_scaled = np.abs(x) * np.exp2(p.scale_exp.astype(float))
    assert (amax_scaled <= fmt.max_finite).all()
    full = np.broadcast_to(amax_scaled, x.shape)
    if gran == "tensor":
        assert full.max() > fmt.max_finite / 2
    assert q.packed_bytes == (240 * 6 + 7) // 8
    assert q.scale_count == {"tensor": 1, "row": 6, "column": 40, "block": 30}[gran]


GEMM_FORMATS = ["e0m3", "e1m2", "e2m1", "e3m0", "e4m3", "e5m2", "e2m3", "e3m2", "fp8_e4m3", "fp8_e5m2",
                "e0m7", "e1m0", "e5m10"]


def _exact(q):
    """Exact dequantized values without the float mantissa of the scale: n * 2^(e - scale_exp), as Fractions."""
    n, e = decode_exact(q.codes, q.fmt)
    k = np.broadcast_to(q.scale_exp, q.codes.shape)
    return np.vectorize(lambda a, b: Fraction(int(a)) * Fraction(2) ** int(b), otypes=[object])(n, e - k)


@settings(max_examples=100, deadline=None)
@given(M=st.integers(1, 5), K=st.integers(1, 9), N=st.integers(1, 5),
       fa=st.sampled_from(GEMM_FORMATS), fb=st.sampled_from(GEMM_FORMATS),
       gran=st.sampled_from(["tensor", "outer", "inner", "block", "row", "column", ("row", "block"),
                             ("block", "tensor"), ("column", "column")]),
       rounding=st.sampled_from(["nearest", "stochastic"]), align=st.sampled_from(["exponent", "valuation"]),
       spread=st.integers(0, 12), seed=st.integers(0, 2**31), zero_row=st.booleans())
def test_integer_gemm_is_exact(M, K, N, fa, fb, gran, rounding, align, spread, seed, zero_row) -> None:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, K)) * np.exp2(rng.uniform(-spread, spread, (M, K)))
    B = rng.standard_normal((K, N)) * np.exp2(rng.uniform(-spread, spread, (K, N)))
    if zero_row:
        A[0] = 0.0
    A_int, B_int, info = quantize_operands_exmy(A, B, fa, fb, gran, rounding, seed, block_size=4, align=align)
    assert A_int.dtype == np.int64 and B_int.dtype == np.int64
    # every operand entry is exactly its dequantized value (scale mantissa aside) over 2^exp
    ea, eb = _exact(info.a), _exact(info.b)
    two = Fraction(2)
    for (m, k), v in np.ndenumerate(ea):
        assert Fraction(int(A_int[m, k])) * two ** int(info.a_exp[m, 0]) == v
    for (k, n), v in np.ndenumerate(eb):
        assert Fraction(int(B_int[k, n])) * two ** int(info.b_exp[0, n]) == v
    # the integer GEMM equals the product of the dequantized operands, with Python integers
    C_int = A_int.astype(object) @ B_int.astype(object)
    C_ref = ea @ eb
    for (m, n), v in np.ndenumerate(C_ref):
        assert Fraction(C_int[m, n]) * two ** int(info.a_exp[m, 0] + info.b_exp[0, n]) == v
    # and in float64 whenever every partial sum is exactly representable
    bound = K * int(np.abs(A_int).max()) * int(np.abs(B_int).max())
    if bound < 2**53 and abs(int(info.a_exp.min()) + int(info.b_exp.min())) < 900:
        a64 = np.array(ea.astype(float), dtype=np.float64)
        b64 = np.array(eb.astype(float), dtype=np.float64)
        c64 = np.ldexp((A_int @ B_int).astype(np.float64), (info.a_exp + info.b_exp).astype(np.int32))
        np.testing.assert_array_equal(a64 @ b64, c64)
        if (info.a_div == 1).all() and (info.b_div == 1).all():  # pow2 scales: dequantized exactly
            np.testing.assert_array_equal(info.a.dequantize() @ info.b.dequantize(), info.rescale(A_int @ B_int))
    # float sanity: rescaled product approximates the float product of the dequantized operands
    da, db = info.a.dequantize(), info.b.dequantize()
    assert (np.abs(info.rescale(C_int) - da @ db) <= 1e-12 * (np.abs(da) @ np.abs(db))).all()
    d = info.to_dict()
    assert d["a_bytes"] == -(-M * K * parse_format(fa).width // 8)
    assert np.abs(A_int).max() <= 2 ** (info.a_int_bits - 1) - 1
    assert info.a_int_bits == 2 or np.abs(A_int).max() > 2 ** (info.a_int_bits - 2) - 1
    if align == "valuation" and (A_int != 0).any():  # minimal: some entry per exponent group is odd
        assert ((A_int % 2) != 0).any()


def test_heavy_hitters_are_large_exponents() -> None:
    # e2m1 per tensor, max -> 6: values {0.5..6} become integers 1..12, only |v| >= 2 exceed 3 bits (qmax 3)
    A = np.array([[0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -6.0]])
    A_int, B_int, info = quantize_operands_exmy(A, np.ones((8, 1)), "e2m1")
    assert A_int.tolist() == [[1, 2, 3, 4, 6, 8, 12, -12]] and int(info.a_exp[0, 0]) == -1
    assert info.a_int_bits == 5 and info.a.fmt.significand_bits == 3
    assert (np.abs(A_int) > 3).sum() == 5  # 2, 3, 4, 6, -6


def test_gemm_errors() -> None:
    A, B = np.ones((2, 3)), np.ones((3, 2))
    with pytest.raises(UserError):
        quantize_operands_exmy(A, B, "e4m3", granularity="inner", scale="max")
    with pytest.raises(UserError):
        quantize_operands_exmy(A, np.ones((2, 2)), "e4m3")
    with pytest.raises(UserError):
        quantize_operands_exmy(A * np.nan, B, "e4m3")
    for bad in ("channel", ("row",), ("row", "outer")):
        with pytest.raises(UserError):
            quantize_operands_exmy(A, B, "e4m3", granularity=bad)
    with pytest.raises(UserError):
        quantize_operands_exmy(A, B, "e4m3", granularity=("tensor", "row"), scale="max")
    _, _, info = quantize_operands_exmy(A, B, "e4m3", granularity="row")  # B per row: along K -> pow2
    assert info.a.scale == "max" and info.b.scale == "pow2" and info.granularity == "row"
    wide = np.array([[1.0, 1e-30, 1e-60]])  # e8m7: exponents 2^-200 apart do not fit int64
    with pytest.raises(UserError, match="62 magnitude bits"):
        quantize_operands_exmy(wide, np.ones((3, 1)), "e8m7")
