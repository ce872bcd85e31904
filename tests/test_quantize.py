"""RTN quantization: scale convention, granularity, no clipping, rounding, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from imsim.errors import UserError
from imsim.quantize import dequantize, qmax, quantize_rtn


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=20),
                    elements=st.floats(-1e6, 1e6, allow_nan=False)),
       bits=st.integers(2, 16), gran=st.sampled_from(["tensor", "row", "column"]))
def test_beta_one_fits_range_and_error_is_half_a_step(x, bits, gran):
    qt = quantize_rtn(x, bits, beta=1.0, granularity=gran)
    assert qt.q.dtype == np.int64
    assert np.abs(qt.q).max(initial=0) <= qmax(bits)  # alpha = max lands on the range top
    err = np.abs(dequantize(qt) - x) * qt.scale
    assert np.all(err <= 0.5 + 1e-9)  # round to nearest: at most half a step


def test_alpha_maps_exactly_to_range_top():
    x = np.array([[0.5, -2.0, 1.0]])
    for bits in range(2, 17):
        qt = quantize_rtn(x, bits)
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
    x = np.array([[0.5, 1.5, 2.5, 7.0]])  # scale = 7/7 = 1 at 4 bits
    assert quantize_rtn(x, 4).q.tolist() == [[0, 2, 2, 7]]


def test_stochastic_rounding_is_seeded_and_unbiased():
    x = np.full((200, 200), 0.3)
    x[0, 0] = 7.0  # scale 1 at 4 bits
    a = quantize_rtn(x, 4, rounding="stochastic", seed=1).q
    b = quantize_rtn(x, 4, rounding="stochastic", seed=1).q
    assert np.array_equal(a, b)
    assert set(np.unique(a[1:])) <= {0, 1}
    assert abs(a[1:].mean() - 0.3) < 0.01


def test_zero_matrix():
    qt = quantize_rtn(np.zeros((3, 3)), 8)
    assert not qt.q.any() and float(qt.scale) == 1.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(bits=1), "bits"), (dict(bits=17), "bits"), (dict(beta=0.0), "beta"), (dict(beta=1.5), "beta"),
    (dict(granularity="block"), "granularity"), (dict(rounding="up"), "rounding"),
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
