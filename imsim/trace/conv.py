"""Convolutions as GEMMs: im2col lowering of a convolution's forward, grad_input and grad_weight.

A convolution (PyTorch layout: input X (N, C_in, *S), weight W (C_out, C_in/g, *k), any number
of spatial dims; stride, padding, dilation, groups g) is lowered per group j to

* forward:     Y_j = cols(X_j) · W_j^T       (N·L) x (C_in/g·prod k)  @  (C_in/g·prod k) x (C_out/g)
* grad_input:  dcols_j = dY_j · W_j          (N·L) x (C_out/g)        @  (C_out/g) x (C_in/g·prod k)
               dX_j = col2im(dcols_j)  (scatter-add of overlapping patches: additions, no MACs)
* grad_weight: dW_j^T = cols(X_j)^T · dY_j   (C_in/g·prod k) x (N·L)  @  (N·L) x (C_out/g)

where L = prod(output spatial size), cols(X_j) holds one row per (sample, output position) and
one column per (input channel of the group, kernel offset), in the order of W_j.reshape(C_out/g, -1),
and dY_j is the output gradient as (N·L) x (C_out/g). Groups become one GEMM each (a depthwise
conv gives C_in GEMMs with K = prod k). The bias is not part of the GEMM. Pure numpy, exact:
the products of these GEMMs equal the convolution's values up to float rounding.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ConvGeometry:
    """Geometry of one (non-transposed) convolution; tuples have one entry per spatial dim."""

    batch: int
    in_channels: int
    out_channels: int
    groups: int
    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]

    @property
    def output_size(self) -> tuple[int, ...]:
        return tuple((s + 2 * p - d * (k - 1) - 1) // st + 1 for s, k, st, p, d in
                     zip(self.input_size, self.kernel_size, self.stride, self.padding, self.dilation))

    @property
    def positions(self) -> int:
        """L: output positions per sample."""
        return prod(self.output_size)

    @property
    def group_in(self) -> int:
        return self.in_channels // self.groups

    @property
    def group_out(self) -> int:
        return self.out_channels // self.groups

    def meta(self) -> dict[str, Any]:
        """JSON-able description (stored in every lowered record's meta under `conv`)."""
        return {"dims": len(self.input_size), "batch": self.batch, "in_channels": self.in_channels,
                "out_channels": self.out_channels, "groups": self.groups, "input_size": list(self.input_size),
                "output_size": list(self.output_size), "kernel_size": list(self.kernel_size),
                "stride": list(self.stride), "padding": list(self.padding), "dilation": list(self.dilation)}


def _tuple(value: Any, n: int) -> tuple[int, ...]:
    vals = [int(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    return tuple(vals * n if len(vals) == 1 else vals)


def geometry(x_shape, w_shape, stride, padding, dilation, groups: int) -> ConvGeometry:
    """The geometry of a convolution of input shape (N, C_in, *S) with weight (C_out, C_in/g, *k)."""
    n = len(x_shape) - 2
    return ConvGeometry(batch=int(x_shape[0]), in_channels=int(x_shape[1]), out_channels=int(w_shape[0]),
                        groups=int(groups), input_size=tuple(int(s) for s in x_shape[2:]),
                        kernel_size=tuple(int(k) for k in w_shape[2:]), stride=_tuple(stride, n),
                        padding=_tuple(padding, n), dilation=_tuple(dilation, n))


def im2col(x: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """cols(x): x (N, C, *S) of one group -> (N·L) x (C·prod k), rows (sample, output position),
    columns (channel, kernel offset) in row-major order."""
    n = len(g.input_size)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in g.padding])
    span = tuple(d * (k - 1) + 1 for k, d in zip(g.kernel_size, g.dilation))
    win = np.lib.stride_tricks.sliding_window_view(xp, span, axis=tuple(range(2, 2 + n)))
    # win: (N, C, *positions_full, *span): keep every stride-th position and every dilation-th offset
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in g.stride) \
        + tuple(slice(None, None, d) for d in g.dilation)
    win = win[index]
    win = win[(slice(None), slice(None)) + tuple(slice(0, o) for o in g.output_size)]
    # -> (N, *out, C, *k)
    order = (0,) + tuple(range(2, 2 + n)) + (1,) + tuple(range(2 + n, 2 + 2 * n))
    cols = win.transpose(order)
    return np.ascontiguousarray(cols).reshape(g.batch * g.positions, x.shape[1] * prod(g.kernel_size))


def col2im(cols: np.ndarray, g: ConvGeometry, channels: int) -> np.ndarray:
    """The adjoint of im2col: scatter-add (N·L) x (C·prod k) patch values into (N, C, *S)."""
    n = len(g.input_size)
    out = np.zeros((g.batch, channels) + tuple(s + 2 * p for s, p in zip(g.input_size, g.padding)),
                   dtype=np.result_type(cols.dtype, np.float32))
    patches = cols.reshape((g.batch,) + g.output_size + (channels,) + g.kernel_size)
    for offset in np.ndindex(*g.kernel_size):
        target = (slice(None), slice(None)) + tuple(
            slice(o * d, o * d + (size - 1) * s + 1, s)
            for o, d, size, s in zip(offset, g.dilation, g.output_size, g.stride))
        src = patches[(slice(None),) + (slice(None),) * n + (slice(None),) + offset]  # (N, *out, C)
        out[target] += np.moveaxis(src, -1, 1)
    crop = (slice(None), slice(None)) + tuple(slice(p, p + s) for p, s in zip(g.padding, g.input_size))
    return out[crop]


def _group(arr: np.ndarray, g: ConvGeometry, j: int, per: int) -> np.ndarray:
    return arr[:, j * per:(j + 1) * per]


def _rows(dy: np.ndarray, g: ConvGeometry, j: int) -> np.ndarray:
    """dY (or Y) of group j as (N·L) x (C_out/g)."""
    part = _group(dy, g, j, g.group_out)  # (N, C_out/g, *out)
    return np.moveaxis(part, 1, -1).reshape(g.batch * g.positions, g.group_out)


def _weight(w: np.ndarray, g: ConvGeometry, j: int) -> np.ndarray:
    """W_j as (C_out/g) x (C_in/g·prod k)."""
    return w[j * g.group_out:(j + 1) * g.group_out].reshape(g.group_out, -1)


def forward_gemms(x: np.ndarray, w: np.ndarray, g: ConvGeometry) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(A, B)] per group: A = cols(X_j), B = W_j^T; A·B = the group's output (bias excluded)."""
    return [(im2col(_group(x, g, j, g.group_in), g), _weight(w, g, j).T) for j in range(g.groups)]


def grad_input_gemms(dy: np.ndarray, w: np.ndarray, g: ConvGeometry) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(A, B)] per group: A = dY_j, B = W_j; col2im(A·B) = the group's input gradient."""
    return [(_rows(dy, g, j), _weight(w, g, j)) for j in range(g.groups)]


def grad_weight_gemms(dy: np.ndarray, x: np.ndarray, g: ConvGeometry) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(A, B)] per group: A = cols(X_j)^T, B = dY_j; (A·B)^T = the group's weight gradient."""
    return [(im2col(_group(x, g, j, g.group_in), g).T, _rows(dy, g, j)) for j in range(g.groups)]


def output_from_gemm(C: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """A forward GEMM's product (N·L) x (C_out/g) back as the conv output (N, C_out/g, *out)."""
    return np.moveaxis(C.reshape((g.batch,) + g.output_size + (C.shape[1],)), -1, 1)
