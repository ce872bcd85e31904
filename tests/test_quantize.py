"""RTN quantization: the paper and symmetric conventions, levels, granularity, no clipping,
rounding, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from imsim.errors import UserError
from imsim.quantize import dequantize, qmax, quantize_rtn


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=20),
                    elements=st.floats(-1e6, 1e6, allow_nan=False)),
       bits=st.integers(2, 16), gran=st.sampled_from(["tensor", "row", "column"]))
def test_symmetric_beta_one_fits_range_and_error_is_half_a_step(x, bits, gran):
    qt = quantize_rtn(x, bits, beta=1.0, granularity=gran, quantizer="symmetric")
    assert qt.q.dtype == np.int64
    assert np.abs(qt.q).max(initial=0) <= qmax(bits)  # alpha = max lands on the range top
    err = np.abs(dequantize(qt) - x) * qt.scale
    assert np.all(err <= 0.5 + 1e-9)  # round to nearest: at most half a step


def test_symmetric_alpha_maps_exactly_to_range_top():
    x = np.array([[0.5, -2.0, 1.0]])
    for bits in range(2, 17):
        qt = quantize_rtn(x, bits, quantizer="symmetric")
        assert qt.q[0, 1] == -qmax(bits)
        assert float(qt.scale) == qmax(bits) / 2.0


def test_no_clipping_heavy_hitters_exceed_range():
    x = np.concatenate([np.linspace(-1, 1, 999), [50.0]])[None, :]
    qt = quantize_rtn(x, 4, beta=0.99)
    assert qt.q.max() > qmax(4)
    assert qt.heavy_fraction > 0
    assert qt.q[0, -1] == round(50.0 * float(qt.scale))


def test_granularity_scales_shapes():
    x = np.arange(1, 13, dtype=float).reshape(3, 4)
    assert quantize_rtn(x, 4, granularity="row").scale.shape == (3, 1)
    assert quantize_rtn(x, 4, granularity="column").scale.shape == (1, 4)
    assert quantize_rtn(x, 4).scale.shape == ()


def test_round_half_to_even():
    x = np.array([[0.5, 1.5, 2.5, 7.0]])  # symmetric: scale = 7/7 = 1 at 4 bits
    assert quantize_rtn(x, 4, quantizer="symmetric").q.tolist() == [[0, 2, 2, 7]]
    # paper, float64: scale = (1/7.5) * 7.5 = 1 exactly at d = 15
    x[0, 3] = 7.5
    assert quantize_rtn(x, 4).q.tolist() == [[0, 2, 2, 8]]


def test_stochastic_rounding_is_seeded_and_unbiased():
    x = np.full((200, 200), 0.3)
    x[0, 0] = 7.5  # scale 1 at 4 bits (paper: 7.5 / 7.5)
    a = quantize_rtn(x, 4, rounding="stochastic", seed=1).q
    b = quantize_rtn(x, 4, rounding="stochastic", seed=1).q
    assert np.array_equal(a, b)
    assert set(np.unique(a[1:])) <= {0, 1}
    assert abs(a[1:].mean() - 0.3) < 0.01


def test_zero_matrix():
    qt = quantize_rtn(np.zeros((3, 3)), 8, quantizer="symmetric")
    assert not qt.q.any() and float(qt.scale) == 1.0
    qt = quantize_rtn(np.zeros((3, 3)), 8)  # paper: alpha floored at 1e-20
    assert not qt.q.any() and float(qt.scale) == 127.5 / 1e-20


@pytest.mark.parametrize("kwargs, match", [
    (dict(bits=1), "bits"), (dict(bits=17), "bits"), (dict(beta=0.0), "beta"), (dict(beta=1.5), "beta"),
    (dict(granularity="block"), "granularity"), (dict(rounding="up"), "rounding"),
    (dict(levels=4), "levels"), (dict(levels=1), "levels"), (dict(levels=3.0), "levels"),
    (dict(levels=True), "levels"), (dict(levels=1 << 24), "levels"), (dict(quantizer="apot"), "quantizer"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(UserError, match=match):
        quantize_rtn(np.ones((2, 2)), **({"bits": 4} | kwargs))


def test_nan_inf_and_int64_overflow_refused():
    with pytest.raises(UserError, match="NaN/inf"):
        quantize_rtn(np.array([[1.0, np.nan]]), 4)
    with pytest.raises(UserError, match="NaN/inf"):
        quantize_rtn(np.array([[1.0, np.inf]]), 4)
    x = np.full((1, 1000), 1e-300)
    x[0, 0] = 1e300
    with pytest.raises(UserError, match="int64"):
        quantize_rtn(x, 16, beta=0.5)


# ---------------------------------------------------------------- the paper's quantizer


def test_paper_default_levels_and_alpha_one_past_the_range():
    # d = 2^b - 1; alpha maps to d/2 = 2^(b-1) - 0.5, which rounds to even: 2^(b-1) (b >= 2)
    x = np.array([[0.5, -2.0, 1.0]])
    for bits in range(2, 17):
        qt = quantize_rtn(x, bits)
        assert qt.levels == 2**bits - 1 and qt.quantizer == "paper"
        assert qt.q[0, 1] == -(2 ** (bits - 1))


def test_paper_hand_values_float32_ties():
    # alpha = 3 (beta = 1), d = 3: float32(1/3) * 1.5 = 0.5 exactly (16777216.5 * 2^-25 rounds
    # to 2^24 * 2^-25), so y = x / 2: 0.25 -> 0, 0.75 -> 1, 1.25 -> 1, -1.5 -> -2 (half to even)
    x = np.array([[0.5, 1.5, 2.5, -3.0, 1.0]], dtype=np.float32)
    qt = quantize_rtn(x, 2, levels=3)
    assert float(qt.scale) == 0.5
    assert qt.q.tolist() == [[0, 1, 1, -2, 0]]  # 1.0 * 0.5 = 0.5 -> 0 (even)


def test_paper_scale_is_reciprocal_times_half_d_not_one_division():
    # at alpha = 3.8429387 (float32), float32(1.5 / alpha) sends alpha to 1.5 -> 2, but the
    # official scale float32(1/alpha) * 1.5 gives alpha * scale = 1.4999999 -> 1
    a = np.float32(3.8429386615753174)
    qt = quantize_rtn(np.array([[a, a / 4]], dtype=np.float32), 2, levels=3)
    assert float(qt.scale) == float(np.float32(np.float32(1) / a) * np.float32(1.5))
    assert qt.q.tolist() == [[1, 0]]
    # in float64 the same value is computed in float64 (the operand's own precision)
    qt64 = quantize_rtn(np.array([[float(a)]]), 2, levels=3)
    assert float(qt64.scale) == (1.0 / float(a)) * 1.5


def test_paper_an_ulp_below_alpha_may_round_past_the_body():
    # float32: alpha = 29.978191 at d = 15 lands on 7.5 -> 8, and so does its float32 neighbour
    # just below (x * scale rounds to 7.5 again): the official arithmetic, reproduced
    a = np.float32(29.978191)
    x = np.array([[a, np.nextafter(a, np.float32(0)), a * np.float32(0.999)]], dtype=np.float32)
    assert quantize_rtn(x, 4, levels=15).q.tolist() == [[8, 8, 7]]


@pytest.mark.parametrize("n, beta, k", [(10, 0.9, 0), (10, 0.95, 0), (100, 0.99, 1), (200, 0.99, 2),
                                         (19, 0.95, 0), (20, 0.95, 1), (1000, 0.999, 1)])
def test_paper_alpha_is_kth_largest(n, beta, k):
    # k = int(n * (1 - beta)) in Python floats: 10 * (1 - 0.9) = 0.99999... -> 0 -> max |x|
    assert int(n * (1 - beta)) == k
    x = -np.arange(1, n + 1, dtype=np.float64)[None, :]  # |x| = 1..n
    alpha = float(n if k == 0 else n - k + 1)
    qt = quantize_rtn(x, 8, beta=beta, levels=255)
    assert float(qt.scale) == (1.0 / alpha) * 127.5


def test_paper_beta_one_is_max_and_row_column_groups():
    x = np.array([[1.0, -4.0], [0.5, 2.0]])
    assert float(quantize_rtn(x, 4).scale) == (1 / 4.0) * 7.5
    assert quantize_rtn(x, 4, granularity="row").scale.ravel().tolist() == [7.5 / 4.0, 7.5 / 2.0]
    assert quantize_rtn(x, 4, granularity="column").scale.ravel().tolist() == [7.5 / 1.0, 7.5 / 4.0]


def test_paper_levels_decoupled_from_bits():
    x = np.linspace(-1, 1, 101)[None, :]
    a = quantize_rtn(x, 2, levels=255)
    b = quantize_rtn(x, 8)
    assert np.array_equal(a.q, b.q) and a.bits == 2 and b.levels == 255
    assert a.heavy_fraction == 100 / 101  # same integers; only the zero fits the 2-bit range
    assert b.heavy_fraction == 2 / 101  # +-1 map to +-127.5 -> +-128: one past the 8-bit range


def test_paper_float16_and_bfloat16_compute_in_float32():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x32 = np.array([[0.1, -0.7, 0.3, 0.9]], dtype=np.float32)
    for dt in (np.float16, ml_dtypes.bfloat16):
        xs = x32.astype(dt)
        assert np.array_equal(quantize_rtn(xs, 4).q, quantize_rtn(xs.astype(np.float32), 4).q)


@settings(max_examples=80, deadline=None)
@given(x=hnp.arrays(st.sampled_from([np.float32, np.float64]),
                    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=30),
                    elements=st.floats(-1e4, 1e4, allow_nan=False, width=32)),
       levels=st.sampled_from([3, 5, 7, 9, 15, 31, 127, 255, 65535]),
       beta=st.sampled_from([1.0, 0.999, 0.99, 0.98, 0.95, 0.9, 0.5]),
       gran=st.sampled_from(["tensor", "row", "column"]), near=st.floats(0.0, 1.0))
def test_paper_body_stays_within_half_levels(x, levels, beta, gran, near):
    """The body (|x| <= alpha (1 - 2^-20)) quantizes into +-(d-1)/2; entries up to alpha itself
    into +-(d+1)/2 (alpha lands on d/2, rounded to even, and x * scale carries ~3 float
    roundings, so neighbours of alpha within a few ulps may round up too)."""
    x = x.copy()
    flat = x.reshape(-1)
    amax = np.abs(flat).max()
    flat[0] = amax  # make the maximum part of the matrix's top,
    if flat.size > 1:  # and put an entry a hair below it and one at an ulp below it
        flat[-1] = -np.nextafter(amax, x.dtype.type(0))
    if flat.size > 2:
        flat[1] = amax * x.dtype.type(1 - near * 2.0**-19)
    try:
        qt = quantize_rtn(x, 2, beta=beta, granularity=gran, levels=levels)
    except UserError as e:  # alpha = 0 (mostly zeros) is floored at 1e-20: beyond int64
        assert "int64" in str(e)
        return
    absx = np.abs(x.astype(np.float64))
    axis = {"tensor": None, "row": 1, "column": 0}[gran]
    n = x.size if axis is None else x.shape[axis]
    k = int(n * (1 - beta)) if beta != 1 else 0
    if axis is None:
        alpha = -np.sort(-absx.ravel())[max(k, 1) - 1]
    else:
        alpha = np.take(-np.sort(-absx, axis=axis), [max(k, 1) - 1], axis=axis)
    alpha = np.maximum(alpha, float(np.float32(1e-20)) if x.dtype == np.float32 else 1e-20)
    body = absx <= alpha * (1 - 2.0**-20)
    assert np.all(np.abs(qt.q[body]) <= (levels - 1) // 2)
    assert np.all(np.abs(qt.q[absx <= alpha]) <= (levels + 1) // 2)


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
                    elements=st.floats(-100, 100, allow_nan=False, width=32)),
       levels=st.sampled_from([3, 5, 7, 15, 31, 127, 255]),
       beta=st.sampled_from([1.0, 0.99, 0.98, 0.95]))
def test_paper_matches_official_formula_in_torch(x, levels, beta):
    """Independent oracle: the official percentile_quantize_fn's arithmetic, written in torch."""
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(x.copy())
    k = int(t.numel() * (1 - beta))
    if beta == 1 or k == 0:
        alpha = t.abs().max()
    else:
        alpha = torch.topk(t.abs().reshape(-1), k=k, dim=-1).values.min()
    if alpha.item() < 1e-20:
        alpha = 1e-20
    ref = torch.round(t * ((0.5 * levels) / alpha)).numpy()
    assume(np.abs(ref).max() < 2.0**62)  # imsim refuses integers beyond int64
    assert np.array_equal(quantize_rtn(x, 8, beta=beta, levels=levels).q, ref)


@pytest.mark.parametrize("quantizer", ["paper", "symmetric"])
@pytest.mark.parametrize("gran", ["tensor", "row", "column"])
def test_granularity_and_stochastic_rounding_with_both_quantizers(quantizer, gran):
    rng = np.random.default_rng(7)
    x = rng.standard_t(3, size=(9, 13)).astype(np.float32)
    near = quantize_rtn(x, 4, 0.95, gran, quantizer=quantizer, levels=9)
    sto = quantize_rtn(x, 4, 0.95, gran, "stochastic", seed=3, quantizer=quantizer, levels=9)
    assert near.scale.shape == sto.scale.shape == {"tensor": (), "row": (9, 1), "column": (1, 13)}[gran]
    assert np.array_equal(near.scale, sto.scale)
    y = x.astype(np.float64) * near.scale
    assert np.all((sto.q == np.floor(y)) | (sto.q == np.floor(y) + 1))
    assert np.all(np.abs(near.q - y) <= 0.5 + 1e-6)
    assert near.levels == sto.levels == 9 and near.quantizer == quantizer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_paper_tensor_scale_equals_the_group_scale_of_a_one_row_matrix(dtype):
    rng = np.random.default_rng(5)
    for e in (-30, -8, 0, 3, 12):
        x = (rng.standard_normal((1, 33)) * 10.0**e).astype(dtype)
        for beta, levels in ((1.0, 255), (0.9, 15), (0.97, 65535)):
            t = quantize_rtn(x, 8, beta, "tensor", levels=levels)
            r = quantize_rtn(x, 8, beta, "row", levels=levels)
            assert t.scale.shape == () and t.scale.tobytes() == r.scale.reshape(()).tobytes()
            assert np.array_equal(t.q, r.q)
