"""eXmY / minifloat operand formats, and their exact conversion into integer GEMMs.

A format eXmY has 1 sign bit, X >= 0 exponent bits and Y >= 0 mantissa bits (1+X+Y <= 16).
Code layout (bit W-1 = sign, then exponent field E, then mantissa field M in the low bits)
and values (bias b):

    E == 0:  (-1)^s * M          * 2^(1 - b - Y)     (zero and subnormals; X = 0: integers)
    E >= 1:  (-1)^s * (2^Y + M)  * 2^(E - b - Y)     (normals)

so every finite value is a signed integer significand n times 2^e. Special values per family
(`specials`): "none" (every code finite: eXmY, float6_e2m3fn, float4_e2m1fn ...), "nan"
(no inf, one NaN code E=2^X-1, M=all ones: float8_e4m3fn), "ieee" (E=2^X-1 holds inf/NaN:
float8_e5m2). Full definitions, rounding and the exactness argument: docs/formats.md.

Units: values are dimensionless reals; exponents are powers of two (int64); codes uint16.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from imsim import packing
from imsim.errors import bad_value

SPECIALS = ("none", "nan", "ieee")
ROUNDINGS = ("nearest", "stochastic")
GRANULARITIES = ("tensor", "row", "column", "block")
GEMM_GRANULARITIES = ("tensor", "outer", "inner", "block", "row", "column")
SCALES = ("auto", "max", "pow2")
ALIGNS = ("exponent", "valuation")
INT64_BITS = 62  # largest magnitude bit length allowed in an int64 operand entry

# full names with the semantics of ml_dtypes / OCP (name -> (X, Y, specials))
_ALIASES = {
    "float8_e4m3fn": (4, 3, "nan"),
    "fp8_e4m3": (4, 3, "nan"),
    "float8_e5m2": (5, 2, "ieee"),
    "fp8_e5m2": (5, 2, "ieee"),
    "float6_e2m3fn": (2, 3, "none"),
    "fp6_e2m3": (2, 3, "none"),
    "float6_e3m2fn": (3, 2, "none"),
    "fp6_e3m2": (3, 2, "none"),
    "float4_e2m1fn": (2, 1, "none"),
    "fp4_e2m1": (2, 1, "none"),
}
_SUFFIX = {"": "none", "fn": "nan", "ieee": "ieee"}
_NAME_RE = re.compile(r"^(?:fp(\d+)_)?e(\d+)m(\d+)(fn|ieee)?(?:_b(-?\d+))?(_sat)?$")
_INT_RE = re.compile(r"^int(\d+)$")
_ALLOWED_NAMES = ("eXmY[fn|ieee][_b<bias>][_sat] with 1+X+Y <= 16 (e.g. e2m3, e4m3fn, e5m2ieee, e0m7), "
                  "fpN_eXmY, intN (= e0m(N-1)), or " + ", ".join(_ALIASES))


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


@dataclass(frozen=True)
class ExmyFormat:
    """An eXmY format: X = exp_bits, Y = man_bits, exponent bias, special values, overflow mode.

    bias defaults to 2^(X-1)-1 (IEEE-like) for X >= 1 and to 1-Y for X = 0, which makes e0mY
    the sign-magnitude integers -(2^Y-1)..2^Y-1. `saturate` (default: True for specials="none",
    else False like ml_dtypes) maps values beyond the largest finite (and +-inf) to +-max; when
    False they become inf ("ieee") or NaN ("nan"); "none" formats have no other choice.
    """

    exp_bits: int
    man_bits: int
    bias: int | None = None
    specials: str = "none"
    saturate: bool | None = None

    def __post_init__(self) -> None:
        X, Y = self.exp_bits, self.man_bits
        if not _is_int(X) or X < 0:
            raise bad_value(None, "exp_bits", X, "an integer >= 0")
        if not _is_int(Y) or Y < 0:
            raise bad_value(None, "man_bits", Y, "an integer >= 0")
        if 1 + X + Y > 16:
            raise bad_value(None, "format", f"e{X}m{Y}", "1 + exp_bits + man_bits must be <= 16")
        if self.specials not in SPECIALS:
            raise bad_value(None, "specials", self.specials, f"one of {', '.join(SPECIALS)}")
        if self.specials == "ieee" and (X < 2 or Y < 1):
            raise bad_value(None, "format", f"e{X}m{Y}ieee", "IEEE specials need exp_bits >= 2 and man_bits >= 1")
        if self.specials == "nan" and X < 1:
            raise bad_value(None, "format", f"e{X}m{Y}fn", "a NaN code needs exp_bits >= 1")
        bias = self.bias
        if bias is None:
            bias = 2 ** (X - 1) - 1 if X >= 1 else 1 - Y
        if not _is_int(bias) or abs(bias) > 1 << 20:
            raise bad_value(None, "bias", bias, "an integer with |bias| <= 2^20")
        object.__setattr__(self, "bias", int(bias))
        sat = self.saturate
        if sat is None:
            sat = self.specials == "none"
        if not isinstance(sat, (bool, np.bool_)):
            raise bad_value(None, "saturate", sat, "true or false")
        if self.specials == "none" and not sat:
            raise bad_value(None, "saturate", False, f"format e{X}m{Y} has no inf/NaN code: it always saturates")
        object.__setattr__(self, "saturate", bool(sat))
        if self.max_significand == 0:
            raise bad_value(None, "format", self.name, "has no non-zero finite value")

    # ---- geometry -------------------------------------------------------------------------
    @property
    def width(self) -> int:
        """Bits per code: 1 + X + Y."""
        return 1 + self.exp_bits + self.man_bits

    @property
    def e_top(self) -> int:
        """Largest exponent field value, 2^X - 1."""
        return (1 << self.exp_bits) - 1

    @property
    def max_fields(self) -> tuple[int, int]:
        """(E, M) fields of the largest finite value."""
        Y, top = self.man_bits, self.e_top
        if self.specials == "ieee":
            return top - 1, (1 << Y) - 1
        if self.specials == "nan":
            return (top, (1 << Y) - 2) if Y >= 1 else (top - 1, 0)
        return top, (1 << Y) - 1

    @property
    def e_min(self) -> int:
        """Exponent (power of two) of the smallest subnormal, 1 - bias - Y: every value is a multiple of it."""
        return 1 - self.bias - self.man_bits

    @property
    def max_significand(self) -> int:
        """Integer significand n of the largest finite value (max = n * 2^max_exponent)."""
        E, M = self.max_fields
        return ((1 << self.man_bits) + M) if E >= 1 else M

    @property
    def max_exponent(self) -> int:
        """Power-of-two exponent of the largest finite value's significand."""
        E, _ = self.max_fields
        return E - self.bias - self.man_bits if E >= 1 else self.e_min

    @property
    def max_finite(self) -> float:
        """Largest finite value as float64 (inf if beyond float64's range)."""
        with np.errstate(over="ignore"):
            return float(np.ldexp(float(self.max_significand), self.max_exponent))

    @property
    def smallest_subnormal(self) -> float:
        """2^e_min as float64 (0.0 if below float64's range)."""
        return float(np.ldexp(1.0, self.e_min))

    @property
    def significand_bits(self) -> int:
        """Narrowest signed symmetric width b (IM-Unpack convention) holding every significand.

        Y + 2 when normals exist (hidden bit), Y + 1 for X = 0: the natural `a_bits`/`w_bits`
        of an array consuming this format after exponent alignment (larger entries are the
        heavy hitters that IM-Unpack splits).
        """
        return self.man_bits + (2 if self.exp_bits >= 1 else 1)

    @property
    def name(self) -> str:
        """Canonical name; parse_format(fmt.name) == fmt."""
        s = f"e{self.exp_bits}m{self.man_bits}" + {"none": "", "nan": "fn", "ieee": "ieee"}[self.specials]
        default_bias = 2 ** (self.exp_bits - 1) - 1 if self.exp_bits >= 1 else 1 - self.man_bits
        if self.bias != default_bias:
            s += f"_b{self.bias}"
        if self.saturate and self.specials != "none":
            s += "_sat"
        return s

    def ml_dtype(self):
        """The ml_dtypes dtype with exactly these semantics (non-saturating casts), or None."""
        import ml_dtypes

        for alias, (X, Y, sp) in _ALIASES.items():
            if alias.startswith("float") and (X, Y, sp) == (self.exp_bits, self.man_bits, self.specials):
                if self.bias == 2 ** (X - 1) - 1:
                    return np.dtype(getattr(ml_dtypes, alias))
        return None


def parse_format(text: str | ExmyFormat) -> ExmyFormat:
    """Parse a format name (see _ALLOWED_NAMES); an ExmyFormat is returned unchanged."""
    if isinstance(text, ExmyFormat):
        return text
    if not isinstance(text, str):
        raise bad_value(None, "format", text, _ALLOWED_NAMES)
    s = text.strip().lower()
    if s in _ALIASES:
        X, Y, sp = _ALIASES[s]
        return ExmyFormat(X, Y, specials=sp)
    m = _INT_RE.match(s)
    if m:
        b = int(m.group(1))
        if not 2 <= b <= 16:
            raise bad_value(None, "format", text, "intN needs N in 2..16")
        return ExmyFormat(0, b - 1)
    m = _NAME_RE.match(s)
    if not m:
        raise bad_value(None, "format", text, _ALLOWED_NAMES)
    total, X, Y, suffix, bias, sat = m.groups()
    X, Y = int(X), int(Y)
    if total is not None and int(total) != 1 + X + Y:
        raise bad_value(None, "format", text, f"fp{total} needs 1 + X + Y = {total}")
    return ExmyFormat(X, Y, None if bias is None else int(bias), _SUFFIX[suffix or ""], True if sat else None)


# ---- codes <-> values -------------------------------------------------------------------------
def _fields(codes: np.ndarray, fmt: ExmyFormat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = np.asarray(codes)
    if c.size and (not np.issubdtype(c.dtype, np.integer) or c.min() < 0 or c.max() >= (1 << fmt.width)):
        raise bad_value(None, "codes", f"{c.dtype} in [{c.min()}, {c.max()}]",
                        f"integers in 0..{(1 << fmt.width) - 1} for {fmt.name}")
    c = c.astype(np.int64)
    Y = fmt.man_bits
    return (c >> (fmt.width - 1)) & 1, (c >> Y) & fmt.e_top, c & ((1 << Y) - 1)


def special_masks(codes: np.ndarray, fmt: ExmyFormat) -> tuple[np.ndarray, np.ndarray]:
    """(is_inf, is_nan) boolean arrays for codes of fmt."""
    _, E, M = _fields(codes, fmt)
    top = E == fmt.e_top
    if fmt.specials == "ieee":
        return top & (M == 0), top & (M != 0)
    if fmt.specials == "nan":
        return np.zeros(E.shape, bool), top & (M == (1 << fmt.man_bits) - 1)
    return np.zeros(E.shape, bool), np.zeros(E.shape, bool)


def decode_exact(codes: np.ndarray, fmt: ExmyFormat) -> tuple[np.ndarray, np.ndarray]:
    """Exact values of finite codes as (n, e): value = n * 2^e, n signed int64 significand.

    UserError if any code is inf or NaN.
    """
    s, E, M = _fields(codes, fmt)
    inf, nan = special_masks(codes, fmt)
    if inf.any() or nan.any():
        raise bad_value(None, "codes", "inf/NaN", f"only finite {fmt.name} codes have an exact value")
    normal = E >= 1
    n = np.where(normal, M + (1 << fmt.man_bits), M)
    e = np.where(normal, E - fmt.bias - fmt.man_bits, fmt.e_min).astype(np.int64)
    return np.where(s == 1, -n, n).astype(np.int64), e


def decode(codes: np.ndarray, fmt: ExmyFormat) -> np.ndarray:
    """Values of codes as float64 (signed zeros, inf and NaN kept; beyond float64 -> +-inf)."""
    s, E, M = _fields(codes, fmt)
    inf, nan = special_masks(codes, fmt)
    normal = E >= 1
    n = np.where(normal, M + (1 << fmt.man_bits), M).astype(np.float64)
    e = np.where(normal, E - fmt.bias - fmt.man_bits, fmt.e_min)
    with np.errstate(over="ignore"):
        mag = np.ldexp(n, np.clip(e, -2000, 2000).astype(np.int32))
    mag = np.where(inf, np.inf, np.where(nan, np.nan, mag))
    return np.where(s == 1, -mag, mag)


def encode(x: np.ndarray, fmt: ExmyFormat, rounding: str = "nearest", rng: np.random.Generator | None = None,
           shift: np.ndarray | int = 0, saturate: bool | None = None) -> np.ndarray:
    """Round x * 2^shift (x float64, shift int64 broadcastable, applied exactly) to codes (uint16).

    rounding: "nearest" = round half to even (one rounding from float64, no double rounding);
    "stochastic" = round up with probability equal to the distance to the lower neighbour in
    units of the local spacing (needs rng). Subnormals are rounded on the fixed grid 2^e_min.
    Overflow (rounded magnitude above the largest finite, and +-inf) follows `saturate`
    (default fmt.saturate): +-max, else inf ("ieee") / NaN ("nan"). NaN input gives the NaN
    code ("ieee": E=top with the top mantissa bit, "nan": all ones, sign kept) and is a
    UserError for "none" formats.
    """
    if rounding not in ROUNDINGS:
        raise bad_value(None, "rounding", rounding, f"one of {', '.join(ROUNDINGS)}")
    sat = fmt.saturate if saturate is None else bool(saturate)
    X, Y = fmt.exp_bits, fmt.man_bits
    x = np.asarray(x, dtype=np.float64)
    nan = np.isnan(x)
    if nan.any() and fmt.specials == "none":
        raise bad_value(None, "value", float("nan"), f"format {fmt.name} has no NaN code")
    inf = np.isinf(x)
    sign = np.signbit(x).astype(np.int64)
    f, ex = np.frexp(np.where(nan | inf, 0.0, np.abs(x)))  # |x| = f * 2^ex, f in [0.5, 1)
    ex = ex.astype(np.int64) + np.asarray(shift, dtype=np.int64)
    eq = np.maximum(ex - 1 - Y, fmt.e_min)  # power of two of the local spacing (quantum)
    t = np.ldexp(f, np.clip(ex - eq, -1100, Y + 1).astype(np.int32))  # |x| / 2^eq, exact, < 2^(Y+1)
    if rounding == "nearest":
        n = np.rint(t)
    else:
        if rng is None:
            raise bad_value(None, "rng", None, "stochastic rounding needs a numpy Generator")
        lo = np.floor(t)
        n = lo + (rng.random(t.shape) < (t - lo))
    n = n.astype(np.int64)
    carry = n == (1 << (Y + 1))
    n = np.where(carry, n >> 1, n)
    eq = eq + carry
    normal = n >= (1 << Y)
    E = np.where(normal, eq + fmt.bias + Y, 0)
    M = np.where(normal, n - (1 << Y), n)
    Emax, Mmax = fmt.max_fields
    over = inf | (E > Emax) | ((E == Emax) & (M > Mmax))
    if sat:
        E, M = np.where(over, Emax, E), np.where(over, Mmax, M)
    elif fmt.specials == "ieee":
        E, M = np.where(over, fmt.e_top, E), np.where(over, 0, M)
    else:  # "nan" without saturation: overflow -> NaN
        E, M = np.where(over, fmt.e_top, E), np.where(over, (1 << Y) - 1, M)
    if nan.any():
        nan_m = (1 << (Y - 1)) if fmt.specials == "ieee" else (1 << Y) - 1
        E, M = np.where(nan, fmt.e_top, E), np.where(nan, nan_m, M)
    code = (sign << (X + Y)) | (E << Y) | M
    return code.astype(np.uint16)


# ---- shared scales ------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantizedTensor:
    """Codes of one matrix plus its shared scale s = scale_mant * 2^scale_exp per group.

    Dequantized value = decode(codes) / s. scale_mant (float64) and scale_exp (int64) have the
    shape of `codes` reduced to the groups: (1,1) tensor, (R,1) row, (1,C) column, full
    (R,C) for block (each entry holds its block's scale). scale_mant is 1.0 for pow2 scales.
    """

    fmt: ExmyFormat
    codes: np.ndarray
    scale_mant: np.ndarray
    scale_exp: np.ndarray
    granularity: str
    block_size: int
    scale: str  # "max" or "pow2"
    block_axis: int = 1  # axis along which blocks run (granularity "block")

    def dequantize(self) -> np.ndarray:
        """float64 values decode(codes) / s (exact for pow2 scales while inside float64's range)."""
        n, e = decode_exact(self.codes, self.fmt)
        with np.errstate(over="ignore", under="ignore"):
            exp = np.clip(e - self.scale_exp, -2000, 2000).astype(np.int32)
            return np.ldexp(n.astype(np.float64), exp) / self.scale_mant

    @property
    def scale_count(self) -> int:
        """Number of distinct scale groups."""
        if self.granularity == "block":
            along = self.codes.shape[self.block_axis]
            return self.codes.shape[1 - self.block_axis] * -(-along // self.block_size)
        return int(self.scale_mant.size)

    @property
    def scale_bytes(self) -> int:
        """Storage of the scales: 4 bytes (float32) per "max" scale, 1 byte (E8M0) per pow2 scale."""
        return self.scale_count * (1 if self.scale == "pow2" else 4)

    @property
    def packed_bytes(self) -> int:
        """Dense footprint of the codes in bytes (imsim.packing)."""
        return packing.packed_bytes(self.codes.size, self.fmt.width)


def _group_amax(a: np.ndarray, granularity: str, block_size: int) -> np.ndarray:
    """max |x| per group, broadcastable to a (block: full shape, blocks along axis 1)."""
    if granularity == "tensor":
        return np.full((1, 1), a.max() if a.size else 0.0)
    if granularity == "row":
        return a.max(axis=1, keepdims=True) if a.shape[1] else np.zeros((a.shape[0], 1))
    if granularity == "column":
        return a.max(axis=0, keepdims=True) if a.shape[0] else np.zeros((1, a.shape[1]))
    C = a.shape[1]
    if C == 0 or a.shape[0] == 0:
        return np.zeros(a.shape)
    starts = np.arange(0, C, block_size)
    per_block = np.maximum.reduceat(a, starts, axis=1)
    return per_block[:, np.arange(C) // block_size]


def _scales(amax: np.ndarray, fmt: ExmyFormat, scale: str) -> tuple[np.ndarray, np.ndarray]:
    """(mant, exp) with amax * mant * 2^exp == max finite ("max") or the largest such pow2 <= it."""
    Imax, Y = fmt.max_significand, fmt.man_bits
    fa, ea = np.frexp(amax)
    ea = ea.astype(np.int64)
    zero = amax == 0
    fa = np.where(zero, 0.5, fa)
    if scale == "max":
        mant = (Imax / 2.0 ** (Y + 1)) / fa
        exp = fmt.max_exponent + Y + 1 - ea
    else:  # pow2: amax * 2^k <= Imax * 2^max_exponent = fm * 2^em
        bl = Imax.bit_length()
        fm, em = Imax / 2.0**bl, fmt.max_exponent + bl
        mant = np.ones_like(fa)
        exp = em - ea - (fa > fm)
    return np.where(zero, 1.0, mant), np.where(zero, 0, exp).astype(np.int64)


def quantize(x: np.ndarray, fmt: ExmyFormat | str, granularity: str = "tensor", rounding: str = "nearest",
             rng: np.random.Generator | None = None, *, scale: str = "max", block_size: int = 32) -> QuantizedTensor:
    """Quantize a float matrix to fmt with a shared scale per tensor / row / column / block.

    scale "max": s = max_finite / max|x| of the group, so the group's max maps exactly to the
    largest finite value (x*s is x times a float64 mantissa, rounded once, times an exact power
    of two); "pow2": s is the largest power of two with max|x|*s <= max_finite (exact, MX-like).
    Blocks are `block_size` consecutive entries of a row. Scaled values never overflow (a scaled
    max a rounding error above max_finite saturates).
    """
    fmt = parse_format(fmt)
    if granularity not in GRANULARITIES:
        raise bad_value(None, "granularity", granularity, f"one of {', '.join(GRANULARITIES)}")
    if scale not in ("max", "pow2"):
        raise bad_value(None, "scale", scale, "one of max, pow2")
    if not _is_int(block_size) or block_size < 1:
        raise bad_value(None, "block_size", block_size, "an integer >= 1")
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise bad_value(None, "matrix shape", a.shape, "a 2-D matrix")
    if not np.isfinite(a).all():
        raise bad_value(None, "matrix", "inf/NaN entries", "finite values only")
    amax = _group_amax(np.abs(a), granularity, int(block_size))
    mant, exp = _scales(amax, fmt, scale)
    codes = encode(a * mant, fmt, rounding, rng, shift=exp, saturate=True)
    return QuantizedTensor(fmt, codes, mant, exp, granularity, int(block_size), scale)


# ---- exact integer conversion ---------------------------------------------------------------------
def _trailing_zeros(n: np.ndarray) -> np.ndarray:
    """Trailing zero bits of positive int64 entries (0 for zeros)."""
    low = n & -n
    return np.where(n > 0, np.frexp(low.astype(np.float64))[1] - 1, 0).astype(np.int64)


def to_integer_operand(q: QuantizedTensor, reduce_axis: int, align: str = "exponent",
                       operand: str = "A") -> tuple[np.ndarray, np.ndarray]:
    """Exact integers of a quantized operand: decode(codes)/2^scale_exp == ints * 2^base.

    reduce_axis is the GEMM's K axis of this operand (1 for A, 0 for B); scale_mant must be
    constant along it. base (int64, shape with the K axis reduced to 1) is shared per tensor
    for "tensor" granularity, else per row of A / column of B. align "exponent": base = the
    smallest element exponent present (ints = significand << (e - base)); "valuation": base =
    the smallest power of two dividing every entry (strips common trailing zeros).
    UserError if an entry would need more than 62 magnitude bits.
    """
    if align not in ALIGNS:
        raise bad_value(None, "align", align, f"one of {', '.join(ALIGNS)}")
    n, e = decode_exact(q.codes, q.fmt)
    e = e - q.scale_exp
    mag = np.abs(n)
    tz = _trailing_zeros(mag)
    odd, val = mag >> tz, e + tz
    low = val if align == "valuation" else e
    nz = mag > 0
    big = np.iinfo(np.int64).max
    masked = np.where(nz, low, big)
    keep = tuple(1 if ax == reduce_axis else size for ax, size in enumerate(masked.shape))
    if q.granularity == "tensor":
        base = np.full(keep, masked.min() if masked.size else big)
    elif masked.shape[reduce_axis]:
        base = masked.min(axis=reduce_axis, keepdims=True)
    else:
        base = np.full(keep, big)
    base = np.where(base == big, 0, base).astype(np.int64)
    sh = np.where(nz, val - base, 0)
    need = np.where(nz, np.frexp(odd.astype(np.float64))[1] + sh, 0)
    if need.size and need.max() > INT64_BITS:
        raise bad_value(None, f"{operand} after exponent alignment", f"{int(need.max())} bits",
                        f"at most {INT64_BITS} magnitude bits fit int64: use a finer granularity "
                        "or a format with fewer exponent bits")
    ints = np.where(n < 0, -(odd << sh), odd << sh)
    return ints.astype(np.int64), base


def _bits_needed(ints: np.ndarray) -> int:
    """Smallest signed symmetric width b (>= 2) with max |ints| <= 2^(b-1) - 1."""
    m = int(np.abs(ints).max()) if ints.size else 0
    return max(2, m.bit_length() + 1)


@dataclass(frozen=True)
class ExmyGemmInfo:
    """What quantize_operands_exmy needs to undo: A_deq @ B_deq == rescale(A_int @ B_int) exactly.

    A_deq = decode(a.codes) / (a.scale_mant * 2^a.scale_exp), same for B, and
    A_deq @ B_deq = (A_int @ B_int) * 2^(a_exp + b_exp) / (a_div * b_div)
    with a_exp, a_div of shape (M,1) and b_exp, b_div of shape (1,N).
    """

    a: QuantizedTensor
    b: QuantizedTensor
    a_exp: np.ndarray
    b_exp: np.ndarray
    a_div: np.ndarray
    b_div: np.ndarray
    granularity: str
    rounding: str
    align: str
    a_int_bits: int  # signed width holding every A_int entry
    b_int_bits: int

    @property
    def a_bytes(self) -> int:
        """Packed footprint of A's codes (bytes), scales excluded."""
        return self.a.packed_bytes

    @property
    def b_bytes(self) -> int:
        """Packed footprint of B's codes (bytes), scales excluded."""
        return self.b.packed_bytes

    def rescale(self, c_int: np.ndarray) -> np.ndarray:
        """float64 product from the exact integer product (one rounding per entry for pow2 scales)."""
        c = np.asarray(c_int)
        if c.dtype == object:
            c = c.astype(np.float64)
        return np.ldexp(c.astype(np.float64), (self.a_exp + self.b_exp).astype(np.int32)) / (self.a_div * self.b_div)

    def to_dict(self) -> dict[str, Any]:
        """Flat summary (formats, bits, footprints in bytes)."""
        return {
            "format_a": self.a.fmt.name, "format_b": self.b.fmt.name,
            "granularity": self.granularity, "rounding": self.rounding, "align": self.align,
            "a_int_bits": self.a_int_bits, "b_int_bits": self.b_int_bits,
            "a_significand_bits": self.a.fmt.significand_bits, "b_significand_bits": self.b.fmt.significand_bits,
            "a_bytes": self.a_bytes, "b_bytes": self.b_bytes,
            "a_scale_bytes": self.a.scale_bytes, "b_scale_bytes": self.b.scale_bytes,
        }


def to_integer_gemm(qa: QuantizedTensor, qb: QuantizedTensor, align: str = "exponent"
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(A_int, B_int, a_exp (M,1), b_exp (1,N)): exact integer GEMM of two quantized operands.

    Requires A's scale_mant constant along K (granularity tensor/row or pow2 scales) and B's
    likewise (tensor/column or pow2).
    """
    for q, ax, nm in ((qa, 1, "A"), (qb, 0, "B")):
        m = np.broadcast_to(q.scale_mant, q.codes.shape)
        if m.size and not (m == np.take(m, [0], axis=ax)).all():
            raise bad_value(None, f"{nm} scale", q.granularity,
                            "scales varying along K must be powers of two (scale=pow2)")
    A_int, a_exp = to_integer_operand(qa, 1, align, "A")
    B_int, b_exp = to_integer_operand(qb, 0, align, "B")
    return A_int, B_int, a_exp, b_exp


_GEMM_SIDES = {"tensor": ("tensor", "tensor"), "outer": ("row", "column"), "inner": ("column", "row"),
               "block": ("block", "block"), "row": ("row", "row"), "column": ("column", "column")}
_ALONG_K = {"A": ("column", "block"), "B": ("row", "block")}  # matrix granularities whose scale varies along K


def gemm_granularity(granularity: str | tuple[str, str]) -> tuple[str, str]:
    """(A's, B's) matrix granularity from a GEMM granularity name or an explicit pair.

    GEMM names: tensor, outer (A per row, B per column), inner (A per column, B per row), block
    (blocks along K of A's rows / B's columns); row / column apply to each matrix in its own
    layout (as imsim.quantize does); a pair gives (A's, B's) from tensor/row/column/block.
    """
    if isinstance(granularity, str) and granularity in _GEMM_SIDES:
        return _GEMM_SIDES[granularity]
    pair = isinstance(granularity, (tuple, list)) and len(granularity) == 2
    if pair and all(g in GRANULARITIES for g in granularity):
        return granularity[0], granularity[1]
    raise bad_value(None, "granularity", granularity,
                    f"one of {', '.join(_GEMM_SIDES)} or a pair (A, B) of {', '.join(GRANULARITIES)}")


def quantize_operands_exmy(A: np.ndarray, B: np.ndarray, fmt_a: ExmyFormat | str,
                           fmt_b: ExmyFormat | str | None = None, granularity: str | tuple[str, str] = "tensor",
                           rounding: str = "nearest", seed: int | None = None, *, scale: str = "auto",
                           block_size: int = 32, align: str = "exponent"
                           ) -> tuple[np.ndarray, np.ndarray, ExmyGemmInfo]:
    """Quantize a float GEMM (A: M x K, B: K x N) to eXmY operands and return the exact integer GEMM.

    fmt_b defaults to fmt_a. granularity: see gemm_granularity ("tensor", "outer", "inner",
    "block", "row", "column" or a pair); blocks are block_size consecutive K entries.
    scale "auto": per operand "max" (group max -> largest finite) when its scale is constant
    along K, else "pow2" (scales varying along K must be powers of two for the GEMM to stay one
    integer GEMM); "max" with a scale varying along K is a UserError; "pow2" everywhere is allowed.
    rounding "nearest" | "stochastic" (seeded by seed; A is drawn before B).
    Returns (A_int, B_int, info), int64, with A_deq @ B_deq == info.rescale(A_int @ B_int)
    where the integer product is exact (docs/formats.md).
    """
    fa = parse_format(fmt_a)
    fb = fa if fmt_b is None else parse_format(fmt_b)
    ga, gb = gemm_granularity(granularity)
    if scale not in SCALES:
        raise bad_value(None, "scale", scale, f"one of {', '.join(SCALES)}")
    scales = []
    for g, side in ((ga, "A"), (gb, "B")):
        if g in _ALONG_K[side] and scale == "max":
            raise bad_value(None, "scale", scale, f"{side} granularity {g} varies along K: use pow2 (or auto)")
        scales.append(("pow2" if g in _ALONG_K[side] else "max") if scale == "auto" else scale)
    a, b = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise bad_value(None, "GEMM shapes", (a.shape, b.shape), "A (M x K) and B (K x N) with matching K")
    rng = np.random.default_rng(seed) if rounding == "stochastic" else None
    qa = quantize(a, fa, ga, rounding, rng, scale=scales[0], block_size=block_size)
    gb_t = {"row": "column", "column": "row"}.get(gb, gb)  # B is quantized as B^T (K along rows)
    qb_t = quantize(b.T, fb, gb_t, rounding, rng, scale=scales[1], block_size=block_size)
    qb = QuantizedTensor(fb, qb_t.codes.T, qb_t.scale_mant.T, qb_t.scale_exp.T, gb, qb_t.block_size, qb_t.scale, 0)
    A_int, B_int, a_exp, b_exp = to_integer_gemm(qa, qb, align)
    M, N = a.shape[0], b.shape[1]
    # scale mantissas are constant along K (checked in to_integer_gemm; 1.0 for pow2 scales)
    a_div = np.ones((M, 1)) * (qa.scale_mant if qa.scale_mant.shape[1] == 1 else 1.0)
    b_div = np.ones((1, N)) * (qb.scale_mant if qb.scale_mant.shape[0] == 1 else 1.0)
    gran = granularity if isinstance(granularity, str) else f"{ga},{gb}"
    info = ExmyGemmInfo(qa, qb, a_exp, b_exp, a_div, b_div, gran, rounding, align,
                        _bits_needed(A_int), _bits_needed(B_int))
    return A_int, B_int, info
