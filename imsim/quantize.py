"""RTN (round-to-nearest) quantization of float matrices to integers, per IM-Unpack.

Quantization precision is not the MAC width: an operand is quantized at d distinct values
(`levels`, odd, default d = 2^b - 1 for MAC width b, the paper's "b-bit RTN"); the b-bit array
only decides how much unpacking that takes. alpha is a threshold on |x| per quantization group
(the whole tensor, a row or a column) set by `beta`; q = round(x * scale), no clipping, so
entries above alpha become integers beyond the body: the *heavy hitters* unpacking handles.

- `quantizer="paper"` (default) reproduces IM-Unpack's `percentile_quantize_fn` bit for bit:
  alpha = the k-th largest |x| with k = int(numel * (1 - beta)) (beta = 1 or k = 0: max |x|;
  alpha < 1e-20 becomes 1e-20), scale = float(1/alpha) * float(0.5 d) (PyTorch evaluates
  `(0.5 * d) / alpha` as `alpha.reciprocal() * (0.5 * d)`), q = round-half-to-even(x * scale),
  all in the operand's own float precision (float64 stays float64; float32, float16 and
  bfloat16 compute in float32, as the official LLM code does; integers in float64). The body
  (|x| <= alpha) lands within +-(d-1)/2, and alpha itself on +-d/2 rounded to even.
- `quantizer="symmetric"`: imsim's earlier convention, alpha = the beta-quantile of |x|
  (`numpy.quantile`, linear interpolation; a zero quantile falls back to max |x|; alpha is
  floored at 1e-20 like the paper's, and an all-zero group gets scale 1),
  scale = ((d-1)/2) / alpha in float64, so alpha lands exactly on the top level (d-1)/2
  (= 2^(b-1) - 1 by default, the top of the b-bit range).

`x ~= q / scale`. Per-row / per-column groups and stochastic rounding work with both.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imsim.errors import UserError, bad_value

MIN_BITS, MAX_BITS = 2, 16
GRANULARITIES = ("tensor", "row", "column")
ROUNDINGS = ("nearest", "stochastic")
QUANTIZERS = ("paper", "symmetric")
MIN_LEVELS, MAX_LEVELS = 3, (1 << 24) - 1  # 0.5 * d stays exact in float32
_INT64_LIMIT = 2.0**63  # |q| must stay strictly below this
_PAPER_ALPHA_FLOOR = 1e-20  # the official code's floor on alpha


def qmax(bits: int) -> int:
    """Largest magnitude of the signed symmetric b-bit range [-(2^(b-1)-1), 2^(b-1)-1]."""
    return (1 << (bits - 1)) - 1


def check_bits(bits: object, field: str = "bits", source: str | None = None) -> int:
    """Validate a bit width (2..16) and return it as int."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not MIN_BITS <= int(bits) <= MAX_BITS:
        raise bad_value(source, field, bits, f"must be an integer in {MIN_BITS}..{MAX_BITS}")
    return int(bits)


def default_levels(bits: int) -> int:
    """The paper's "b-bit RTN": d = 2^b - 1 distinct values for an operand of MAC width b."""
    return (1 << check_bits(bits)) - 1


def check_levels(levels: object, field: str = "levels", source: str | None = None) -> int:
    """Validate a number of distinct values d (odd, 3..2^24-1) and return it as int."""
    if (isinstance(levels, bool) or not isinstance(levels, (int, np.integer))
            or not MIN_LEVELS <= int(levels) <= MAX_LEVELS or int(levels) % 2 == 0):
        raise bad_value(source, field, levels, f"must be an odd integer in {MIN_LEVELS}..{MAX_LEVELS}")
    return int(levels)


def check_quantizer(quantizer: object, field: str = "quantizer", source: str | None = None) -> str:
    """Validate a quantizer name ('paper' or 'symmetric')."""
    if quantizer not in QUANTIZERS:
        raise bad_value(source, field, quantizer, f"must be one of {', '.join(QUANTIZERS)}")
    return str(quantizer)


def check_beta(beta: object, field: str = "beta", source: str | None = None) -> float:
    """Validate beta, the fraction of |x| at or below alpha (0 < beta <= 1)."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating, np.integer)) \
            or not 0.0 < float(beta) <= 1.0:
        raise bad_value(source, field, beta, "must be a number in (0, 1]")
    return float(beta)


@dataclass(frozen=True)
class Quantized:
    """An RTN-quantized matrix: `q` (int64) and the scale with `x ~= q / scale`.

    `scale` is a 0-d array (tensor), shape (M, 1) (per row) or (1, N) (per column), float64
    holding the exact value used (a float32 value for float32 paper quantization).
    `bits` is the MAC width the operand is meant for, `levels` the number of distinct values d.
    """

    q: np.ndarray
    scale: np.ndarray
    bits: int
    beta: float
    granularity: str
    levels: int
    quantizer: str

    def dequantize(self) -> np.ndarray:
        """Float64 approximation of the original matrix."""
        return self.q / self.scale

    @property
    def heavy_fraction(self) -> float:
        """Fraction of entries outside the b-bit range (the entries unpacking splits)."""
        if self.q.size == 0:
            return 0.0
        return float(np.count_nonzero(np.abs(self.q) > qmax(self.bits)) / self.q.size)


def _compute_dtype(arr: np.ndarray) -> np.dtype:
    """Float precision of the paper quantizer: float64 stays, other floats -> float32, ints -> float64."""
    if arr.dtype.kind == "f" and arr.dtype.itemsize >= 8:
        return np.dtype(np.float64)
    if arr.dtype.kind in "iub":
        return np.dtype(np.float64)
    return np.dtype(np.float32)  # float32, float16, bfloat16 (ml_dtypes, kind 'V' or 'f')


def _kth_largest(absx: np.ndarray, beta: float, axis: int | None) -> np.ndarray:
    """alpha per group: the k-th largest |x|, k = int(n * (1 - beta)) (n = group size); max if k = 0."""
    if axis is None:
        flat = absx.reshape(1, -1)
        return _kth_largest(flat, beta, 1).reshape(())
    n = absx.shape[axis]
    k = int(n * (1 - beta)) if beta != 1 else 0
    if n == 0:
        return np.zeros([1 if a == axis else s for a, s in enumerate(absx.shape)], dtype=absx.dtype)
    if k == 0:
        return np.max(absx, axis=axis, keepdims=True)
    return np.take(np.partition(absx, n - k, axis=axis), [n - k], axis=axis)


def _paper_scale(arr: np.ndarray, beta: float, levels: int, axis: int | None) -> np.ndarray:
    """scale = float(1/alpha) * float(0.5 d) in arr's dtype (alpha floored at 1e-20)."""
    dt = arr.dtype.type
    alpha = _kth_largest(np.abs(arr), beta, axis)
    half_d = dt(0.5 * levels)
    if axis is None:  # one alpha: the same operations on numpy scalars of dtype dt (a 0-d result)
        a = dt(alpha)
        if float(a) < _PAPER_ALPHA_FLOOR:
            return np.asarray(dt((0.5 * levels) / _PAPER_ALPHA_FLOOR))
        with np.errstate(divide="ignore", over="ignore"):
            return np.asarray(dt(dt(1) / a) * half_d)
    small = alpha.astype(np.float64) < _PAPER_ALPHA_FLOOR  # compared in double, as alpha.item()
    with np.errstate(divide="ignore", over="ignore"):
        scale = (dt(1) / np.where(small, dt(1), alpha)).astype(dt) * half_d
    # the official code replaces alpha by the Python float 1e-20: (0.5 d) / 1e-20 in double
    return np.where(small, dt((0.5 * levels) / _PAPER_ALPHA_FLOOR), scale).astype(dt)


def _symmetric_scale(arr: np.ndarray, beta: float, levels: int, axis: int | None) -> np.ndarray:
    """scale = ((d-1)/2) / alpha, alpha = beta-quantile of |x| (max if that is 0); 1 for all-zero groups."""
    absx = np.abs(arr)
    amax = np.max(absx, axis=axis, keepdims=axis is not None) if absx.size else np.zeros(())
    if beta >= 1.0 or absx.size == 0:
        alpha = amax
    else:
        alpha = np.quantile(absx, beta, axis=axis, keepdims=axis is not None)
        alpha = np.where(alpha > 0, alpha, amax)
    alpha = np.where(alpha > 0, np.maximum(alpha, _PAPER_ALPHA_FLOOR), 0.0)  # keep the scale finite
    top = (levels - 1) / 2
    return np.where(alpha > 0, top / np.where(alpha > 0, alpha, 1.0), 1.0)


def quantize_rtn(
    x: np.ndarray,
    bits: int,
    beta: float = 1.0,
    granularity: str = "tensor",
    rounding: str = "nearest",
    seed: int | None = None,
    name: str = "x",
    *,
    levels: int | None = None,
    quantizer: str = "paper",
) -> Quantized:
    """Quantize float matrix `x` to integers by RTN with no clipping.

    bits: MAC width the operand is for (2..16); levels: distinct values d (odd >= 3, default
    2^bits - 1); beta in (0, 1]: fraction of |x| at or below alpha; quantizer: 'paper' |
    'symmetric' (see the module docstring); granularity: 'tensor' | 'row' | 'column';
    rounding: 'nearest' (half to even) or 'stochastic' (floor(y + u), u ~ U[0, 1) from `seed`).
    Raises UserError for NaN/inf input, bad parameters, or results that would not fit int64.
    """
    bits = check_bits(bits)
    levels = default_levels(bits) if levels is None else check_levels(levels)
    quantizer = check_quantizer(quantizer)
    beta = check_beta(beta)
    if granularity not in GRANULARITIES:
        raise bad_value(None, "granularity", granularity, f"must be one of {', '.join(GRANULARITIES)}")
    if rounding not in ROUNDINGS:
        raise bad_value(None, "rounding", rounding, f"must be one of {', '.join(ROUNDINGS)}")
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu" and "bfloat16" not in str(arr.dtype):
        raise bad_value(None, name, f"dtype {arr.dtype}", "must be a float or integer array")
    if arr.ndim != 2:
        raise bad_value(None, name, f"shape {arr.shape}", "must be a 2-D matrix")
    cdt = _compute_dtype(arr) if quantizer == "paper" else np.dtype(np.float64)
    arr = arr.astype(cdt, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise UserError(f"{name}: holds {bad} NaN/inf entries; RTN quantization needs finite values")
    axis = {"tensor": None, "row": 1, "column": 0}[granularity]
    if quantizer == "paper":
        scale = _paper_scale(arr, beta, levels, axis)
    else:
        scale = _symmetric_scale(arr, beta, levels, axis)
    if granularity == "tensor":
        scale = np.asarray(scale).reshape(())
    with np.errstate(over="ignore", invalid="ignore"):
        y = arr * scale  # in the compute precision (float32 stays float32)
    ymax = float(np.max(np.abs(y))) if y.size else 0.0
    if not np.isfinite(ymax) or ymax >= _INT64_LIMIT:
        raise UserError(
            f"{name}: quantizing at beta={beta} gives integers up to {ymax:.3g}, "
            f"beyond int64 (2^63); use a larger beta"
        )
    if rounding == "nearest":
        q = np.rint(y)
    else:
        rng = np.random.default_rng(seed)
        q = np.floor(y.astype(np.float64) + rng.random(y.shape))
    return Quantized(q=q.astype(np.int64), scale=np.asarray(scale, dtype=np.float64), bits=bits,
                     beta=beta, granularity=granularity, levels=levels, quantizer=quantizer)


def dequantize(qt: Quantized) -> np.ndarray:
    """Float64 approximation of the original matrix (`q / scale`)."""
    return qt.dequantize()
