"""Heavy-hitter statistics of a trace: how many entries fall outside the b-bit range after RTN,
which rows/columns hold them, and what unpacking costs per strategy.

Each operand is RTN-quantized per tensor (`imsim.quality.quantize_gemm`: quantizer, beta,
levels / w_levels; the paper's quantizer by default). For A (M x K) "rows" are its M rows and "cols" its K columns; for
B (K x N) "rows" are its K rows and "cols" its N columns. Integer operands (already
quantized traces) are used as they are. The unpack ratio (MACs of the low-bit GEMM / M*K*N)
comes from `imsim.unpack.unpack_gemm` for each strategy. Aggregates over a kind or the whole
trace weight entry fractions by entries, line fractions by lines and unpack ratios by MACs;
`rel_error` is the pooled Frobenius error sqrt(sum ||C_hat - C||^2 / sum ||C||^2) of the group.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imsim.errors import UserError
from imsim.quantize import qmax
from imsim.trace.format import GemmRecord
from imsim.unpack import unpack_gemm

DEFAULT_STRATEGIES = ("row", "col", "both")


@dataclass(frozen=True)
class OperandStats:
    """Counts for one quantized operand: its size and the out-of-range entries/lines."""

    rows: int
    cols: int
    out_entries: int  # entries with |q| > qmax(bits)
    out_rows: int     # rows holding at least one such entry
    out_cols: int     # columns holding at least one
    max_abs: int      # largest |q|

    @property
    def out_of_range_fraction(self) -> float:
        return self.out_entries / max(1, self.rows * self.cols)

    @property
    def rows_fraction(self) -> float:
        return self.out_rows / max(1, self.rows)

    @property
    def cols_fraction(self) -> float:
        return self.out_cols / max(1, self.cols)

    def __add__(self, other: "OperandStats") -> "OperandStats":
        """Pool counts (entries, lines) of two operands; `rows`/`cols` become line totals."""
        return OperandStats(self.rows + other.rows, self.cols + other.cols,
                            self.out_entries + other.out_entries, self.out_rows + other.out_rows,
                            self.out_cols + other.out_cols, max(self.max_abs, other.max_abs))


def operand_stats(q: np.ndarray, bits: int) -> OperandStats:
    """Counts of entries of integer matrix q outside the signed b-bit range."""
    out = np.abs(q) > qmax(bits)
    return OperandStats(rows=q.shape[0], cols=q.shape[1], out_entries=int(np.count_nonzero(out)),
                        out_rows=int(np.count_nonzero(out.any(axis=1))),
                        out_cols=int(np.count_nonzero(out.any(axis=0))),
                        max_abs=int(np.abs(q).max()) if q.size else 0)


@dataclass(frozen=True)
class GemmStats:
    """Heavy-hitter statistics of one GEMM (or, pooled, of a group of GEMMs)."""

    name: str
    kind: str
    phase: str
    gemms: int
    shape: tuple[int, int, int] | None   # (M, K, N) for one GEMM, None for a group
    macs: int                            # useful MACs, sum of M*K*N
    a_entries: int
    b_entries: int
    a: OperandStats
    b: OperandStats
    low_macs: dict[str, int] = field(default_factory=dict)  # strategy -> MACs after unpacking
    error_sq: float = 0.0  # sum of ||C_hat - C||_F^2 over float GEMMs (imsim.quality)
    ref_sq: float = 0.0  # sum of ||C||_F^2 over float GEMMs

    @property
    def unpack_ratio(self) -> dict[str, float]:
        """Strategy -> MACs after unpacking / useful MACs."""
        return {s: m / max(1, self.macs) for s, m in self.low_macs.items()}

    def __add__(self, other: "GemmStats") -> "GemmStats":
        low = {s: self.low_macs[s] + other.low_macs[s] for s in self.low_macs}
        return GemmStats(self.name, self.kind, self.phase, self.gemms + other.gemms, None,
                         self.macs + other.macs, self.a_entries + other.a_entries,
                         self.b_entries + other.b_entries, self.a + other.a, self.b + other.b, low,
                         self.error_sq + other.error_sq, self.ref_sq + other.ref_sq)

    def to_dict(self) -> dict[str, Any]:
        """Flat row: fractions of out-of-range entries, rows and columns per operand, ratios."""
        row: dict[str, Any] = {"name": self.name, "kind": self.kind, "phase": self.phase, "gemms": self.gemms}
        if self.shape is not None:
            row.update(M=self.shape[0], K=self.shape[1], N=self.shape[2])
        row["macs"] = self.macs
        for side, op, n in (("a", self.a, self.a_entries), ("b", self.b, self.b_entries)):
            row[f"{side}_out_of_range_fraction"] = op.out_entries / max(1, n)
            row[f"{side}_rows_fraction"] = op.rows_fraction
            row[f"{side}_cols_fraction"] = op.cols_fraction
            row[f"{side}_max_abs"] = op.max_abs
        for s, r in self.unpack_ratio.items():
            row[f"unpack_ratio_{s}"] = r
        # pooled Frobenius error of the quantized GEMMs against the float products (None: integers)
        row["rel_error"] = math.sqrt(self.error_sq / self.ref_sq) if self.ref_sq > 0 else None
        return row


def gemm_stats(record: GemmRecord, a_bits: int = 8, w_bits: int | None = None, beta: float = 1.0,
               strategies: Iterable[str] = DEFAULT_STRATEGIES, *, levels: int | None = None,
               w_levels: int | None = None, quantizer: str = "paper", digits: str = "signmag") -> GemmStats:
    """Quantize A (a_bits, levels) and B (w_bits, w_levels; defaults 2^bits - 1) by RTN at
    `beta` with `quantizer`, count heavy hitters, and unpack with each strategy (`digits`)."""
    from imsim.quality import quantize_gemm

    w_bits = a_bits if w_bits is None else w_bits
    try:
        qa, qb, info = quantize_gemm(record.A, record.B, a_bits, w_bits, beta=beta, levels=levels,
                                     w_levels=w_levels, quantizer=quantizer)
    except UserError as exc:
        raise UserError(f"{record.name}: {exc}") from None
    low = {s: int(unpack_gemm(qa, qb, a_bits, w_bits, strategy=s, digits=digits).macs) for s in strategies}
    return GemmStats(record.name, record.kind, record.phase, 1, record.shape, record.macs,
                     qa.size, qb.size, operand_stats(qa, a_bits), operand_stats(qb, w_bits), low,
                     info["error_sq"] or 0.0, info["ref_sq"] or 0.0)


@dataclass(frozen=True)
class TraceStats:
    """Per-GEMM statistics, pooled per (phase, kind), and for the whole trace."""

    gemms: tuple[GemmStats, ...]
    kinds: tuple[GemmStats, ...]
    total: GemmStats
    a_bits: int
    w_bits: int
    beta: float
    levels: int | None = None
    w_levels: int | None = None
    quantizer: str = "paper"
    digits: str = "signmag"

    def to_dict(self) -> dict[str, Any]:
        return {"a_bits": self.a_bits, "w_bits": self.w_bits, "beta": self.beta, "levels": self.levels,
                "w_levels": self.w_levels, "quantizer": self.quantizer, "digits": self.digits,
                "total": self.total.to_dict(), "kinds": [k.to_dict() for k in self.kinds],
                "gemms": [g.to_dict() for g in self.gemms]}


def pool(stats: Iterable[GemmStats], name: str, kind: str, phase: str) -> GemmStats:
    """Pool GEMM statistics into one group row."""
    it = list(stats)
    acc = GemmStats(name, kind, phase, 0, None, 0, 0, 0, OperandStats(0, 0, 0, 0, 0, 0),
                    OperandStats(0, 0, 0, 0, 0, 0), {s: 0 for s in (it[0].low_macs if it else {})})
    for s in it:
        acc = acc + s
    return acc


def trace_stats(records: Iterable[GemmRecord], a_bits: int = 8, w_bits: int | None = None,
                beta: float = 1.0, strategies: Iterable[str] = DEFAULT_STRATEGIES, *,
                levels: int | None = None, w_levels: int | None = None, quantizer: str = "paper",
                digits: str = "signmag") -> TraceStats:
    """Statistics of every record (loaded one at a time), per (phase, kind), and in total.
    levels / w_levels None: 2^bits - 1 of that operand's width."""
    strategies = tuple(strategies)
    w_bits = a_bits if w_bits is None else w_bits
    per = tuple(gemm_stats(r, a_bits, w_bits, beta, strategies, levels=levels, w_levels=w_levels,
                           quantizer=quantizer, digits=digits) for r in records)
    groups: dict[tuple[str, str], list[GemmStats]] = {}
    for g in per:
        groups.setdefault((g.phase, g.kind), []).append(g)
    kinds = tuple(pool(v, f"{ph}:{k}", k, ph) for (ph, k), v in groups.items())
    empty = GemmStats("total", "all", "all", 0, None, 0, 0, 0, OperandStats(0, 0, 0, 0, 0, 0),
                      OperandStats(0, 0, 0, 0, 0, 0), {s: 0 for s in strategies})
    total = pool(per, "total", "all", "all") if per else empty
    return TraceStats(per, kinds, total, a_bits, w_bits, float(beta), levels, w_levels, quantizer, digits)
