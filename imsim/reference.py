"""The exact integer product, exact by construction in every regime, and the reference GEMM.

`exact_matmul(A, B)` chooses its arithmetic from per-K bounds t_k = max_i |A[i,k]| * max_j |B[k,j]|
(exact Python integers), so that every product and every partial sum it forms is provably
representable:

    sum_k t_k < 2^24          one float32 matmul      (every partial sum an integer < 2^24)
    sum_k t_k < 2^53          one float64 matmul      (every partial sum an integer < 2^53)
    sum_k t_k < 2^63          'int64': K is cut into runs whose t_k sum stays below 2^53, each run
                              one float64 matmul; the K positions with t_k >= 2^53 (a single
                              product already beyond float64) go through one numpy int64 matmul;
                              the runs are summed in int64 (every partial sum <= sum_k t_k < 2^63)
    otherwise                 Python integers (object arrays)

The order in which BLAS adds terms does not matter: every partial sum of any order is bounded by
the same sum of t_k. `reference_gemm` is the int64 reference used to check exactness; it works on
the original integer operands and shares nothing with the unpacking or recombination code.
"""
from __future__ import annotations

import numpy as np

from imsim.errors import UserError, bad_value

MATMUL_METHODS = ("float32", "float64", "int64", "object")  # exact product paths, fastest first
F32_EXACT = 1 << 24   # integers of magnitude below this are exact in float32
F64_EXACT = 1 << 53   # ... in float64
I64_SAFE = 1 << 62    # callers' own int64 sums: bounds below this leave a factor-2 margin
INT64_MAX = (1 << 63) - 1
_INT64_LIMIT = 1 << 63  # |partial sums| below this fit int64


def _abs_u64(X: np.ndarray) -> np.ndarray:
    """|X| as uint64 for any signed/unsigned integer array (|-2^63| = 2^63 included)."""
    if X.dtype.kind == "u":
        return X.astype(np.uint64, copy=False)
    return np.abs(X.astype(np.int64, copy=False)).view(np.uint64)


def k_bounds(A: np.ndarray, B: np.ndarray) -> list[int]:
    """t_k = max_i |A[i,k]| * max_j |B[k,j]| for every k, as exact Python integers."""
    if A.shape[0] == 0 or B.shape[1] == 0 or A.shape[1] == 0:
        return [0] * A.shape[1]
    if A.dtype == object or B.dtype == object:
        a = [max(abs(int(v)) for v in col) for col in A.T]
        b = [max(abs(int(v)) for v in row) for row in B]
    else:
        a = _abs_u64(A).max(axis=0).tolist()
        b = _abs_u64(B).max(axis=1).tolist()
    return [x * y for x, y in zip(a, b)]


def _runs(t: list[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """Contiguous K runs with sum(t) < 2^53 each, and the K positions with t_k >= 2^53."""
    runs: list[tuple[int, int]] = []
    big: list[int] = []
    start, acc = None, 0
    for k, tk in enumerate(t):
        if tk >= F64_EXACT:
            if start is not None:
                runs.append((start, k))
            big.append(k)
            start, acc = None, 0
            continue
        if start is None:
            start, acc = k, tk
        elif acc + tk >= F64_EXACT:
            runs.append((start, k))
            start, acc = k, tk
        else:
            acc += tk
    if start is not None:
        runs.append((start, len(t)))
    return runs, big


def _int_dtype_ok(X: np.ndarray) -> bool:
    """True when X converts to int64 without loss (any int dtype but uint64 above 2^63 - 1)."""
    if X.dtype.kind == "i":
        return True
    return X.dtype.kind == "u" and (X.dtype.itemsize < 8 or not X.size or int(X.max()) <= INT64_MAX)


def exact_matmul(A: np.ndarray, B: np.ndarray, bound: int | None = None) -> tuple[np.ndarray, str]:
    """Exact integer A @ B and the method used ('float32', 'float64', 'int64' or 'object').

    A (M x K), B (K x N): integer arrays (or object arrays of Python ints). `bound`, when given,
    must be >= sum_k max_i|A[i,k]| max_j|B[k,j]| (e.g. K * max|A| * max|B|); it only lets the
    float paths skip the scan for per-K bounds. The result is int64, or object (Python ints) when
    the per-K bounds do not keep every partial sum below 2^63.
    """
    M, K = A.shape
    N = B.shape[1]
    if A.dtype == object or B.dtype == object or not (_int_dtype_ok(A) and _int_dtype_ok(B)):
        return A.astype(object) @ B.astype(object), "object"
    if bound is not None and bound < F32_EXACT:
        return (A.astype(np.float32) @ B.astype(np.float32)).astype(np.int64), "float32"
    if bound is not None and bound < F64_EXACT:
        return (A.astype(np.float64) @ B.astype(np.float64)).astype(np.int64), "float64"
    t = k_bounds(A, B)
    total = sum(t)
    if total < F32_EXACT:
        return (A.astype(np.float32) @ B.astype(np.float32)).astype(np.int64), "float32"
    if total < F64_EXACT:
        return (A.astype(np.float64) @ B.astype(np.float64)).astype(np.int64), "float64"
    if total >= _INT64_LIMIT:
        return A.astype(object) @ B.astype(object), "object"
    runs, big = _runs(t)
    out = np.zeros((M, N), dtype=np.int64)
    for k0, k1 in runs:
        out += (A[:, k0:k1].astype(np.float64) @ B[k0:k1].astype(np.float64)).astype(np.int64)
    if big:
        # numpy's integer matmul is exact here: every partial sum is bounded by total < 2^63
        out += A[:, big].astype(np.int64) @ B[big].astype(np.int64)
    return out, "int64"


def int_matmul(A: np.ndarray, B: np.ndarray, bound: int | None = None) -> np.ndarray:
    """Exact integer product (`exact_matmul`): int64 when it fits, else Python integers."""
    return exact_matmul(A, B, bound)[0]


def integer_matrix(X: np.ndarray, name: str) -> np.ndarray:
    """X as a 2-D integer array; UserError naming `name` otherwise."""
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise bad_value(None, name, f"shape {arr.shape}", "must be a 2-D matrix")
    if arr.dtype.kind not in "iu":
        raise bad_value(None, name, f"dtype {arr.dtype}", "must be an integer matrix (quantize floats first)")
    return arr


def reference_gemm(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The int64 reference A @ B of the original integer operands (exact in every regime).

    UserError for non-integer or mis-shaped operands, or when an entry of the exact product does
    not fit int64.
    """
    A, B = integer_matrix(A, "A"), integer_matrix(B, "B")
    if A.shape[1] != B.shape[0]:
        raise UserError(f"shape mismatch: A is {A.shape[0]}x{A.shape[1]} and B is {B.shape[0]}x{B.shape[1]}; "
                        f"A's columns (K) must equal B's rows")
    C, method = exact_matmul(A, B)
    if method != "object":
        return C
    if C.size:
        hi, lo = max(C.flat), min(C.flat)
        if hi > INT64_MAX or lo < -INT64_MAX - 1:
            raise UserError(f"A @ B: the exact product does not fit int64 (entries up to "
                            f"{max(hi, -lo)}); reduce the operand magnitudes")
    return C.astype(np.int64)
