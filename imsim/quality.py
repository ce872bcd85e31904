"""Quality of a quantized GEMM against its float product (pure functions, no I/O).

Per GEMM, with C = A @ B in float64 and C_hat the dequantized exact integer product:
    rel_error     = ||C_hat - C||_F / ||C||_F        (0 if both are 0, inf if only C is 0)
    sqnr_db       = 10 log10(||C||_F^2 / ||C_hat - C||_F^2)   (inf when the error is 0)
    max_abs_error = max |C_hat - C|
C_hat = C_int / (scale_A scale_B) from the exact integer product when the scales factor out
(A per tensor or row, B per tensor or column); otherwise deq(A) @ deq(B) in float64.
Unpacking is exact, so these depend on the quantization alone (quantizer, beta, levels), never
on the array width or the unpack strategy.

Trace aggregation (`aggregate_errors`): pooled Frobenius over the trace,
rel_error = sqrt(sum ||err||^2 / sum ||C||^2) and sqnr_db from the same sums; max_abs_error =
the maximum; rel_error_mean / rel_error_max = mean / max of the per-GEMM rel_error.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Optional

import numpy as np

from imsim.quantize import Quantized
from imsim.reference import reference_gemm

ERROR_FIELDS = ("rel_error", "sqnr_db", "max_abs_error", "error_sq", "ref_sq")


@dataclass(frozen=True)
class GemmError:
    """Error of one quantized GEMM against the float64 product (see the module docstring)."""

    rel_error: float
    sqnr_db: float
    max_abs_error: float
    error_sq: float  # ||C_hat - C||_F^2
    ref_sq: float  # ||C||_F^2

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.inf


def sqnr_db(ref_sq: float, error_sq: float) -> float:
    """10 log10(signal power / noise power); inf for a zero error, -inf for a zero signal."""
    if error_sq == 0:
        return math.inf
    if ref_sq == 0:
        return -math.inf
    return 10.0 * math.log10(ref_sq / error_sq)


def error_of(C_hat: np.ndarray, C: np.ndarray) -> GemmError:
    """rel_error, sqnr_db, max_abs_error of an approximation C_hat of the float64 product C."""
    diff = np.asarray(C_hat, dtype=np.float64) - np.asarray(C, dtype=np.float64)
    err_sq = float(np.sum(diff * diff))
    ref_sq = float(np.sum(np.square(C, dtype=np.float64)))
    return GemmError(rel_error=math.sqrt(_ratio(err_sq, ref_sq)), sqnr_db=sqnr_db(ref_sq, err_sq),
                     max_abs_error=float(np.max(np.abs(diff))) if diff.size else 0.0,
                     error_sq=err_sq, ref_sq=ref_sq)


def scales_factor_out(qa: Quantized, qb: Quantized) -> bool:
    """True when the scales factor out of the sum over K (A's per tensor/row, B's per
    tensor/column): C_hat then comes from the exact integer product."""
    return qa.granularity in ("tensor", "row") and qb.granularity in ("tensor", "column")


def dequantized_product(qa: Quantized, qb: Quantized, C_int: Optional[np.ndarray] = None) -> np.ndarray:
    """C_hat in float64: the exact integer product (`C_int` = reference_gemm(qa.q, qb.q) when
    given) over the scales when they factor out of the sum over K, else deq(A) @ deq(B)."""
    if scales_factor_out(qa, qb):
        C = reference_gemm(qa.q, qb.q) if C_int is None else C_int
        sa = np.reshape(qa.scale, (-1, 1)) if qa.granularity == "row" else qa.scale
        sb = np.reshape(qb.scale, (1, -1)) if qb.granularity == "column" else qb.scale
        return np.asarray(C, dtype=np.float64) / (sa * sb)
    return qa.dequantize() @ qb.dequantize()


def scaled_error(A: np.ndarray, B: np.ndarray, qa: np.ndarray, qb: np.ndarray, scale_a: float,
                 scale_b: float) -> GemmError:
    """Error of integer operands qa ~= A * scale_a, qb ~= B * scale_b (per-tensor scales)."""
    C = np.asarray(A, dtype=np.float64) @ np.asarray(B, dtype=np.float64)
    return error_of(np.asarray(reference_gemm(qa, qb), dtype=np.float64) / (scale_a * scale_b), C)


def gemm_error(A: np.ndarray, B: np.ndarray, qa: Quantized, qb: Quantized,
               C_int: Optional[np.ndarray] = None) -> GemmError:
    """Error of the quantized GEMM (qa, qb) against the float64 product of A and B."""
    C = np.asarray(A, dtype=np.float64) @ np.asarray(B, dtype=np.float64)
    return error_of(dequantized_product(qa, qb, C_int), C)


def aggregate_errors(rows: Iterable[Any]) -> dict[str, float]:
    """Trace totals of per-GEMM errors (objects or dicts with ERROR_FIELDS); {} if none has one."""
    errs = []
    for r in rows:
        get = r.get if isinstance(r, dict) else (lambda k, _r=r: getattr(_r, k, None))
        if get("error_sq") is not None and get("ref_sq") is not None:
            errs.append((float(get("error_sq")), float(get("ref_sq")), float(get("rel_error")),
                         float(get("max_abs_error"))))
    if not errs:
        return {}
    e = sum(x[0] for x in errs)
    c = sum(x[1] for x in errs)
    rel = [x[2] for x in errs]
    return {"rel_error": math.sqrt(_ratio(e, c)), "sqnr_db": sqnr_db(c, e),
            "max_abs_error": max(x[3] for x in errs), "rel_error_mean": float(np.mean(rel)),
            "rel_error_max": float(np.max(rel)), "error_sq": e, "ref_sq": c}


def quantize_gemm(A: np.ndarray, B: np.ndarray, a_bits: int, w_bits: int, *, beta: float = 1.0,
                  granularity: str = "tensor", levels: Optional[int] = None,
                  w_levels: Optional[int] = None, quantizer: str = "paper"
                  ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Integer operands of a GEMM and its quality fields: float operands are RTN-quantized
    (levels / w_levels default to 2^a_bits - 1 / 2^w_bits - 1) and the error against the float
    product is measured; integer operands pass through (the fields then say None)."""
    ia, ib, info, _ = quantize_gemm_reference(A, B, a_bits, w_bits, beta=beta, granularity=granularity,
                                              levels=levels, w_levels=w_levels, quantizer=quantizer)
    return ia, ib, info


def quantize_gemm_reference(A: np.ndarray, B: np.ndarray, a_bits: int, w_bits: int, *, beta: float = 1.0,
                            granularity: str = "tensor", levels: Optional[int] = None,
                            w_levels: Optional[int] = None, quantizer: str = "paper"
                            ) -> tuple[np.ndarray, np.ndarray, dict[str, Any], Optional[np.ndarray]]:
    """`quantize_gemm` plus the int64 reference product imsim.reference.reference_gemm(ia, ib)
    when the error measurement computed it (float operands whose scales factor out), else None:
    a caller checking an unpacked run for exactness can reuse it instead of computing it again."""
    from imsim.quantize import quantize_rtn

    A, B = np.asarray(A), np.asarray(B)
    info: dict[str, Any] = {"quantizer": None, "beta": None, "levels": None, "w_levels": None}
    info.update({k: None for k in ERROR_FIELDS})
    floats = [X.dtype.kind not in "iub" for X in (A, B)]
    qa = quantize_rtn(A, a_bits, beta, granularity, name="A", levels=levels, quantizer=quantizer) if floats[0] else None
    qb = quantize_rtn(B, w_bits, beta, granularity, name="B", levels=w_levels, quantizer=quantizer) if floats[1] else None
    ia = qa.q if qa is not None else A.astype(np.int64, copy=False)
    ib = qb.q if qb is not None else B.astype(np.int64, copy=False)
    if any(floats):
        info.update(quantizer=quantizer, beta=float(beta),
                    levels=(qa.levels if qa is not None else None),
                    w_levels=(qb.levels if qb is not None else None))
    C_int = None
    if all(floats):
        if scales_factor_out(qa, qb):
            C_int = reference_gemm(qa.q, qb.q)
        info.update(gemm_error(A, B, qa, qb, C_int).to_dict())
    return ia, ib, info, C_int
