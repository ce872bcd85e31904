"""RTN (round-to-nearest) quantization of float matrices to integers, per IM-Unpack.

For a b-bit target, alpha is the beta-quantile of |x| (beta = 1: max |x|) over the
quantization group (the whole tensor, a row, or a column) and

    scale = (2^(b-1) - 1) / alpha,   q = round(x * scale)   (no clipping)

so alpha lands exactly on the top of the symmetric b-bit range and entries above alpha
become integers larger than the range: the *heavy hitters* that unpacking handles.
(The paper's code uses (2^b - 1) / (2 alpha), which sends alpha itself one past the range.)
`x ~= q / scale`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imsim.errors import UserError, bad_value

MIN_BITS, MAX_BITS = 2, 16
GRANULARITIES = ("tensor", "row", "column")
ROUNDINGS = ("nearest", "stochastic")
_INT64_LIMIT = 2.0**63  # |q| must stay strictly below this


def qmax(bits: int) -> int:
    """Largest magnitude of the signed symmetric b-bit range [-(2^(b-1)-1), 2^(b-1)-1]."""
    return (1 << (bits - 1)) - 1


def check_bits(bits: object, field: str = "bits", source: str | None = None) -> int:
    """Validate a bit width (2..16) and return it as int."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not MIN_BITS <= int(bits) <= MAX_BITS:
        raise bad_value(source, field, bits, f"must be an integer in {MIN_BITS}..{MAX_BITS}")
    return int(bits)


@dataclass(frozen=True)
class Quantized:
    """An RTN-quantized matrix: `q` (int64) and the scale with `x ~= q / scale`.

    `scale` is a 0-d array (tensor), shape (M, 1) (per row) or (1, N) (per column).
    """

    q: np.ndarray
    scale: np.ndarray
    bits: int
    beta: float
    granularity: str

    def dequantize(self) -> np.ndarray:
        """Float64 approximation of the original matrix."""
        return self.q / self.scale

    @property
    def heavy_fraction(self) -> float:
        """Fraction of entries outside the b-bit range (the heavy hitters)."""
        if self.q.size == 0:
            return 0.0
        return float(np.count_nonzero(np.abs(self.q) > qmax(self.bits)) / self.q.size)


def _alpha(absx: np.ndarray, beta: float, axis: int | None) -> np.ndarray:
    """Threshold per group: the beta-quantile of |x| (max for beta = 1), never 0 unless all-zero."""
    amax = np.max(absx, axis=axis, keepdims=True) if absx.size else np.zeros((1, 1))
    if beta >= 1.0 or absx.size == 0:
        return amax
    alpha = np.quantile(absx, beta, axis=axis, keepdims=True)
    # a group whose quantile is 0 (mostly zeros) falls back to its max so the scale stays finite
    return np.where(alpha > 0, alpha, amax)


def quantize_rtn(
    x: np.ndarray,
    bits: int,
    beta: float = 1.0,
    granularity: str = "tensor",
    rounding: str = "nearest",
    seed: int | None = None,
    name: str = "x",
) -> Quantized:
    """Quantize float matrix `x` to integers by RTN with no clipping.

    bits: target operand width (2..16); beta in (0, 1]: quantile of |x| mapped to the range top;
    granularity: 'tensor' | 'row' | 'column'; rounding: 'nearest' (half to even) or
    'stochastic' (floor(y + u), u ~ U[0, 1) from `seed`).
    Raises UserError for NaN/inf input, bad parameters, or results that would not fit int64.
    """
    bits = check_bits(bits)
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating)) or not 0.0 < float(beta) <= 1.0:
        raise bad_value(None, "beta", beta, "must be a number in (0, 1]")
    if granularity not in GRANULARITIES:
        raise bad_value(None, "granularity", granularity, f"must be one of {', '.join(GRANULARITIES)}")
    if rounding not in ROUNDINGS:
        raise bad_value(None, "rounding", rounding, f"must be one of {', '.join(ROUNDINGS)}")
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise bad_value(None, name, f"dtype {arr.dtype}", "must be a float or integer array")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 2:
        raise bad_value(None, name, f"shape {arr.shape}", "must be a 2-D matrix")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise UserError(f"{name}: holds {bad} NaN/inf entries; RTN quantization needs finite values")
    axis = {"tensor": None, "row": 1, "column": 0}[granularity]
    absx = np.abs(arr)
    alpha = _alpha(absx, float(beta), axis)
    scale = np.where(alpha > 0, qmax(bits) / np.where(alpha > 0, alpha, 1.0), 1.0)
    if granularity == "tensor":
        scale = scale.reshape(())
    with np.errstate(over="ignore"):
        y = arr * scale
    if y.size and float(np.max(np.abs(y))) >= _INT64_LIMIT:
        raise UserError(
            f"{name}: quantizing at beta={beta} gives integers up to {float(np.max(np.abs(y))):.3g}, "
            f"beyond int64 (2^63); use a larger beta"
        )
    if rounding == "nearest":
        q = np.rint(y)
    else:
        rng = np.random.default_rng(seed)
        q = np.floor(y + rng.random(y.shape))
    return Quantized(q=q.astype(np.int64), scale=np.asarray(scale, dtype=np.float64), bits=bits,
                     beta=float(beta), granularity=granularity)


def dequantize(qt: Quantized) -> np.ndarray:
    """Float64 approximation of the original matrix (`q / scale`)."""
    return qt.dequantize()
