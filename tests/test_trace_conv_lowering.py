"""im2col lowering of convolutions (imsim/trace/conv.py), without torch: on integer operands the
forward GEMMs equal a direct convolution loop exactly, col2im is the adjoint of im2col, and the
grad_weight GEMM equals the direct weight-gradient sum (hypothesis over 1-D and 2-D geometries)."""
from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.trace import conv as convlow


@st.composite
def geometries(draw):
    dims = draw(st.integers(1, 2))
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    size = tuple(draw(st.integers(d * (k - 1) + 1 - min(2 * p, d * (k - 1)), 7))
                 for k, p, d in zip(kernel, padding, dilation))
    g = convlow.ConvGeometry(draw(st.integers(1, 2)), cin, cout, groups, size, kernel, stride, padding, dilation)
    seed = draw(st.integers(0, 2**16))
    return g, seed


def _direct(x, w, g):
    """Y[n, o, *p] = sum over c in o's group, kernel offsets of x_pad[n, c, p*s + k*d] * w[o, c', k]."""
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in g.padding])
    y = np.zeros((g.batch, g.out_channels) + g.output_size, dtype=np.int64)
    for n, o in itertools.product(range(g.batch), range(g.out_channels)):
        j = o // g.group_out
        for pos in np.ndindex(*g.output_size):
            total = 0
            for c in range(g.group_in):
                for k in np.ndindex(*g.kernel_size):
                    idx = tuple(pp * s + kk * d for pp, s, kk, d in zip(pos, g.stride, k, g.dilation))
                    total += int(xp[(n, j * g.group_in + c) + idx]) * int(w[(o, c) + k])
            y[(n, o) + pos] = total
    return y


@settings(max_examples=60, deadline=None)
@given(geometries())
def test_lowered_gemms_equal_the_direct_convolution(case):
    g, seed = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-7, 8, (g.batch, g.in_channels) + g.input_size)
    w = rng.integers(-7, 8, (g.out_channels, g.group_in) + g.kernel_size)
    dy = rng.integers(-7, 8, (g.batch, g.out_channels) + g.output_size)
    fwd = convlow.forward_gemms(x, w, g)
    assert len(fwd) == g.groups
    y = np.concatenate([convlow.output_from_gemm(A @ B, g) for A, B in fwd], axis=1)
    assert np.array_equal(y, _direct(x, w, g))
    # grad_input: col2im is im2col's adjoint (<col2im(D), X> = <D, cols(X)> for a random X), and since Y_j
    # is linear in X_j, dX_j = col2im(dY_j W_j) satisfies <dX_j, X_j> = <dY_j, Y_j>
    for j, ((A, B), (cols, _)) in enumerate(zip(convlow.grad_input_gemms(dy, w, g), fwd)):
        dcols = A @ B
        dx = convlow.col2im(dcols, g, g.group_in)
        xj = x[:, j * g.group_in:(j + 1) * g.group_in]
        z = rng.integers(-7, 8, xj.shape)
        assert np.sum(dx * z) == np.sum(dcols * convlow.im2col(z, g))
        assert np.sum(dx * xj) == np.sum(y[:, j * g.group_out:(j + 1) * g.group_out]
                                         * dy[:, j * g.group_out:(j + 1) * g.group_out])
    # grad_weight: dW[o, c, k] = sum over n, positions of dY[n, o, p] * x_pad[n, c, p*s + k*d]
    dw = np.concatenate([(A @ B).T.reshape((g.group_out, g.group_in) + g.kernel_size)
                         for A, B in convlow.grad_weight_gemms(dy, x, g)])
    e = np.zeros(w.shape, dtype=np.int64)
    for o in range(g.out_channels):
        for c in range(g.group_in):
            for k in np.ndindex(*g.kernel_size):
                unit = np.zeros_like(w)
                unit[(o, c) + k] = 1
                e[(o, c) + k] = np.sum(_direct(x, unit, g) * dy)
    assert np.array_equal(dw, e)


def test_shapes_of_a_grouped_2d_conv():
    g = convlow.geometry((2, 6, 9, 8), (4, 3, 3, 2), (2, 1), (1, 0), (1, 2), 2)
    assert g.output_size == (5, 6) and g.positions == 30
    x, w = np.ones((2, 6, 9, 8)), np.ones((4, 3, 3, 2))
    (A, B), _ = convlow.forward_gemms(x, w, g)
    assert A.shape == (2 * 30, 3 * 3 * 2) and B.shape == (18, 2)
    assert convlow.geometry((1, 2, 5), (2, 2, 3), [1], [0], [1], 1).meta()["output_size"] == [3]
