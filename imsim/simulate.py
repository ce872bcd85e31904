"""The core pipeline: an unpacked GEMM on a hardware design -> GemmResult.

    prepare_gemm(A, B, a_bits, w_bits, strategy)      float/int operands -> UnpackedGemm
    simulate_gemm(hw, ug, timing=..., execute=...)    array timing + memory + recombination
                                                      + exact execution + energy/area
    simulate_trace(hw, records, ...)                  one GemmResult per trace record

With k_scale = scale_passes the array runs one pass per K scale class (each its own mapping,
fill and drain) and the recombination unit shifts and adds the passes; with shift_accumulate
one pass over all of K'. No I/O here.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping as TMapping, Optional

import numpy as np

from imsim import memo
from imsim.capability import check_design
from imsim.datapath import data_path
from imsim.execute import run_passes
from imsim.memory import MemoryParams, PassShape
from imsim.quantize import quantize_rtn
from imsim.recombine import recombine_exact
from imsim.results import GemmResult, totals
from imsim.reference import reference_gemm
from imsim.unpack import UnpackedGemm, unpack_gemm

__all__ = ["quantize_operands", "prepare_gemm", "simulate_gemm", "simulate_trace", "totals"]


def _as_int(X: np.ndarray, bits: int, beta: Optional[float], granularity: str, name: str,
            levels: Optional[int], quantizer: str) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype.kind in "iu":
        return X.astype(np.int64, copy=False)
    return quantize_rtn(X, bits, 1.0 if beta is None else beta, granularity, name=name,
                        levels=levels, quantizer=quantizer).q


def quantize_operands(A: np.ndarray, B: np.ndarray, a_bits: int, w_bits: Optional[int] = None,
                      quantize_beta: Optional[float] = None, granularity: str = "tensor", *,
                      levels: Optional[int] = None, w_levels: Optional[int] = None,
                      quantizer: str = "paper") -> tuple[np.ndarray, np.ndarray]:
    """Integer operands for the GEMM: float matrices are RTN-quantized (beta = quantize_beta,
    default 1.0; levels / w_levels default 2^bits - 1) for a_bits / w_bits; integer matrices
    pass through unchanged."""
    w_bits = a_bits if w_bits is None else w_bits
    return (_as_int(A, a_bits, quantize_beta, granularity, "A", levels, quantizer),
            _as_int(B, w_bits, quantize_beta, granularity, "B", w_levels, quantizer))


def prepare_gemm(A: np.ndarray, B: np.ndarray, a_bits: int, w_bits: Optional[int] = None,
                 strategy: str = "auto", quantize_beta: Optional[float] = None,
                 granularity: str = "tensor", *, levels: Optional[int] = None,
                 w_levels: Optional[int] = None, quantizer: str = "paper",
                 digits: str = "signmag") -> UnpackedGemm:
    """RTN-quantize float operands (see quantize_operands) and unpack them for a_bits/w_bits."""
    qa, qb = quantize_operands(A, B, a_bits, w_bits, quantize_beta, granularity, levels=levels,
                               w_levels=w_levels, quantizer=quantizer)
    return unpack_gemm(qa, qb, a_bits, a_bits if w_bits is None else w_bits, strategy, digits)


def pass_shapes(hw, ug: UnpackedGemm, datapath: Optional[TMapping[str, Any]] = None) -> list[PassShape]:
    """The array passes of an unpacked GEMM: one over all of K', or one per K scale class
    (k_scale = scale_passes). Only the first pass holds base (non-recombined) outputs.
    `datapath`: PassShape data-path fields (imsim.datapath.DataPath.pass_fields)."""
    M, _, N = ug.shape
    Mp, Kp, Np = ug.low_shape
    k_shift = np.asarray(ug.plan.k_shift)
    if hw.k_scale == "scale_passes" and ug.k_classes.size > 1:
        ks = [int(np.count_nonzero(k_shift == t)) for t in ug.k_classes]
    else:
        ks = [Kp]
    return [PassShape(M=Mp, K=k, N=Np, base_rows=M if p == 0 else 0, base_cols=N if p == 0 else 0,
                      **(datapath or {}))
            for p, k in enumerate(ks)]


def _nonzero_macs(ug: UnpackedGemm) -> int:
    """MACs whose two operands are both non-zero: sum_k nnz(A[:,k]) nnz(B[k,:])."""
    a = np.count_nonzero(ug.A, axis=0).astype(np.int64)
    b = np.count_nonzero(ug.B, axis=1).astype(np.int64)
    return int(a @ b)


def _energy_area(hw, ug: UnpackedGemm, mem, cycles: int, timing: str) -> tuple[dict, dict]:
    from imsim.energy import Activity, energy_of_run

    Mp, Kp, Np = ug.low_shape
    shift_k = int(np.count_nonzero(ug.plan.k_shift)) if hw.k_scale == "shift_accumulate" else 0
    act = Activity(macs=ug.macs, nonzero_macs=_nonzero_macs(ug), cycles=cycles,
                   sram_a_read_bytes=mem.sram_a_read_bytes, sram_a_write_bytes=mem.sram_a_write_bytes,
                   sram_b_read_bytes=mem.sram_b_read_bytes, sram_b_write_bytes=mem.sram_b_write_bytes,
                   sram_c_read_bytes=mem.sram_c_read_bytes, sram_c_write_bytes=mem.sram_c_write_bytes,
                   dram_read_bytes=mem.dram_read_bytes, dram_write_bytes=mem.dram_write_bytes,
                   recomb_ops=mem.recomb_ops, shift_acc_macs=shift_k * Mp * Np,
                   useful_macs=ug.useful_macs, unpack_ops=mem.unpack_ops, folds=mem.folds,
                   stream_cycles=mem.stream_cycles)
    tech = memo.technology(hw.technology)
    area = memo.area_of_design(hw, tech, timing=timing)
    return energy_of_run(hw, act, tech, timing=timing, area=area).to_dict(), area.to_dict()


def _first_mismatch(C: np.ndarray, ref: np.ndarray) -> Optional[tuple]:
    if np.array_equal(C, ref):
        return None
    i, j = (int(x) for x in np.argwhere(C != ref)[0])
    return (i, j, int(ref[i, j]), int(C[i, j]))


def simulate_gemm(hw, ug: UnpackedGemm, *, timing: str = "pipelined", execute: bool = True,
                  meta: Optional[TMapping[str, Any]] = None, operands: Optional[tuple] = None,
                  energy: bool = True, quality: Optional[TMapping[str, Any]] = None,
                  reference: Optional[np.ndarray] = None) -> GemmResult:
    """Simulate one unpacked GEMM on design `hw` (an imsim.hwconfig.HwConfig).

    timing: 'pipelined' or 'scalesim' (array timing mode). execute: run the values through the
    accumulators. operands: the ORIGINAL integer operands (A, B); the recombined C is then checked
    against `imsim.reference.reference_gemm(A, B)`, which shares nothing with the unpacking and
    recombination path. Without them the run is `exact=None`, `exact_status='unchecked'`: a check
    of the unpacked operands against themselves would prove nothing. meta: name/kind/phase/model
    and provenance (real / synthetic / shape-only).
    quality: quantization settings and error fields (imsim.quality.quantize_gemm) for the row.
    reference: `reference_gemm(*operands)` when the caller has it already (e.g. from
    imsim.quality.quantize_gemm_reference, computed by imsim.reference from the original
    operands): the check then reuses it instead of computing it again.
    """
    meta = dict(meta or {})
    name = str(meta.get("name", "gemm"))
    M, K, N = ug.shape
    Mp, Kp, Np = ug.low_shape
    shapes = pass_shapes(hw, ug)
    dp = data_path(hw, ug, len(shapes), operands)
    check_design(hw, ug, len(shapes), dp, name, operands)
    shapes = pass_shapes(hw, ug, dp.pass_fields(hw, ug))
    mem = memo.simulate_memory(MemoryParams.from_hw(hw), shapes, timing=timing)  # repeats: cached

    exact, mismatch, pe_over, rc_over, method = None, None, 0, 0, "none"
    status = "not run"
    if execute:
        passes = run_passes(ug, hw, name=name)
        rec = recombine_exact(passes, ug.plan, M, N, acc_bits=hw.recomb_acc_bits,
                              policy=hw.overflow, name=name)
        if operands is not None:
            qa, qb = operands
            if (np.shape(qa)[0], np.shape(qa)[1], np.shape(qb)[1]) != (M, K, N):
                raise ValueError(f"{name}: operands {np.shape(qa)} @ {np.shape(qb)} are not the "
                                 f"unpacked GEMM's original {M}x{K}x{N}")
            if reference is None:
                reference = reference_gemm(qa, qb)
            elif np.shape(reference) != (M, N):
                raise ValueError(f"{name}: reference {np.shape(reference)} is not the GEMM's {M}x{N} product")
            mismatch = _first_mismatch(rec.C, reference)
            exact = mismatch is None
            status = "exact" if exact else "mismatch"
        else:
            status = "unchecked"
        pe_over = sum(p.overflows for p in passes)
        rc_over = rec.overflows
        method = "+".join(sorted({p.method for p in passes}))

    en, ar = _energy_area(hw, ug, mem, mem.cycles, timing) if energy else ({}, {})
    pes = hw.rows * hw.cols
    return GemmResult(
        name=name, kind=str(meta.get("kind", "")), phase=str(meta.get("phase", "")),
        model=str(meta.get("model", "")), hw=hw.name, M=M, K=K, N=N, M_low=Mp, K_low=Kp, N_low=Np,
        strategy=ug.strategy, a_bits=ug.a_bits, w_bits=ug.w_bits, acc_bits=hw.acc_bits,
        dataflow=hw.dataflow, timing=timing, k_scale=hw.k_scale, rows=hw.rows, cols=hw.cols,
        macs=ug.macs, useful_macs=ug.useful_macs, unpack_ratio=ug.unpack_ratio, passes=len(shapes),
        cycles=mem.cycles, compute_cycles=mem.compute_cycles, stall_cycles=mem.stall_cycles,
        recomb_cycles=mem.recomb_cycles, recomb_busy_cycles=mem.recomb_busy_cycles,
        recomb_ops=mem.recomb_ops, folds=mem.folds, fill_cycles=mem.fill_cycles,
        drain_cycles=mem.drain_cycles, bands=sum(mem.bands),
        utilization=ug.useful_macs / (pes * mem.cycles) if mem.cycles else 0.0,
        mapping_efficiency=mem.mapping_efficiency,
        latency_us=mem.cycles / hw.clock_mhz,
        dram_read_bytes=mem.dram_read_bytes, dram_write_bytes=mem.dram_write_bytes,
        dram_bytes=mem.dram_bytes, sram_bytes=mem.sram_bytes,
        sram_a_read_bytes=mem.sram_a_read_bytes, sram_a_write_bytes=mem.sram_a_write_bytes,
        sram_b_read_bytes=mem.sram_b_read_bytes, sram_b_write_bytes=mem.sram_b_write_bytes,
        sram_c_read_bytes=mem.sram_c_read_bytes, sram_c_write_bytes=mem.sram_c_write_bytes,
        peak_bw_demand_bytes_per_cycle=mem.peak_bw_demand_bytes_per_cycle,
        unpack_ops=mem.unpack_ops, unpack_cycles=mem.unpack_cycles,
        spilled_outputs=mem.spilled_outputs, dram_spill_read_bytes=mem.dram_spill_read_bytes,
        a_stored_bits=dp.a_stored_bits, b_stored_bits=dp.b_stored_bits, out_bits=dp.out_bits,
        exact=exact, first_mismatch=mismatch, pe_overflows=pe_over, recomb_overflows=rc_over,
        exec_method=method, energy=en, area=ar, exact_status=status, digits=ug.digits,
        **dict(quality or {}),
        provenance=str(meta.get("provenance", "")),
    )


def simulate_trace(hw, records: Iterable[Any], *, strategy: str = "auto", timing: str = "pipelined",
                   execute: bool = True, quantize_beta: float = 1.0, granularity: str = "tensor",
                   energy: bool = True, levels: Optional[int] = None, w_levels: Optional[int] = None,
                   quantizer: str = "paper", digits: str = "signmag") -> list[GemmResult]:
    """Simulate every record (with .A .B .name .kind .phase .model) of a trace on `hw`.

    Float operands are RTN-quantized for hw.a_bits / hw.w_bits with `quantize_beta`, `levels` /
    `w_levels` (default 2^bits - 1) and `quantizer`; each row carries its error (imsim.quality)
    and the record's provenance (imsim.trace.provenance.of_meta).
    """
    from imsim.quality import quantize_gemm_reference
    from imsim.trace.provenance import of_meta

    out = []
    for rec in records:
        qa, qb, info, ref = quantize_gemm_reference(rec.A, rec.B, hw.a_bits, hw.w_bits, beta=quantize_beta,
                                                    granularity=granularity, levels=levels,
                                                    w_levels=w_levels, quantizer=quantizer)
        ug = unpack_gemm(qa, qb, hw.a_bits, hw.w_bits, strategy, digits)
        meta = {k: getattr(rec, k, "") for k in ("name", "kind", "phase", "model")}
        meta["provenance"] = of_meta(getattr(rec, "meta", {}))
        out.append(simulate_gemm(hw, ug, timing=timing, execute=execute, meta=meta,
                                 operands=(qa, qb), energy=energy, quality=info, reference=ref))
    return out
