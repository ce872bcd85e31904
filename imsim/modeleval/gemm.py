"""One GEMM through imsim, and a torch dispatch mode that sends a model's GEMMs there.

For C = A·B with float operands (A the activation side, B the weight side), `ImsimGemms`:
  1. RTN-quantizes each operand (imsim.quantize: quantizer, beta, levels d) per tensor, or per
     row of A (token) and column of B (output channel) with granularity `channel`;
  2. unpacks the integer GEMM for the design's a_bits / w_bits (imsim.unpack, `strategy`);
  3. executes the low-bit GEMM pass by pass in the design's accumulators (imsim.execute) and
     recombines the partial results (imsim.recombine): the exact integer C;
  4. dequantizes C / (scale_A · scale_B) in float64, returned as the model's dtype;
and costs the unpacked GEMM on the design with the timing/memory model (imsim.simulate,
execute=False: the values were just computed above).
`QuantizedGemms` is the non-unpacked quantized run: the same quantized operands multiplied by
an independent exact integer product (`int_product`: float64 BLAS when every partial sum is an
integer below 2^53, else numpy's int64 matmul or Python integers; written here, not imsim's
exact_matmul), no unpacking, no array.
`FloatGemms` leaves every GEMM to torch.

`through(engine)` is a TorchDispatchMode: every aten mm / addmm / bmm / baddbmm of the model
(nn.Linear, matmul, attention) is computed by `engine.matmul`; batched GEMMs are split into one
GEMM per batch element (each quantized on its own, as in a captured trace); addmm's bias is
added in float after dequantization.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

import numpy as np

from imsim.errors import bad_value
from imsim.quantize import Quantized, quantize_rtn

# granularity of a model GEMM -> (A's, B's) quantization groups; only groups whose scales factor
# out of C = A·B are offered: per tensor, or per row of A (token) with per column of B (channel)
GRANULARITIES = {"tensor": ("tensor", "tensor"), "channel": ("row", "column")}


@dataclass(frozen=True)
class QuantSetting:
    """How float operands become integers: quality depends on this alone.

    levels / w_levels: distinct values d of the A (activation) / B (weight) operand; None means
    2^b - 1 of that operand's MAC width (the paper's b-bit RTN), fixed by `resolved`.
    """

    quantizer: str = "paper"
    beta: float = 1.0
    levels: int | None = None
    w_levels: int | None = None
    granularity: str = "tensor"

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise bad_value(None, "granularity", self.granularity, f"must be one of {', '.join(GRANULARITIES)}")

    def resolved(self, a_bits: int, w_bits: int) -> "QuantSetting":
        """This setting with default levels filled in from the operand widths."""
        from imsim.sweep.quant_axes import resolve_levels

        levels, w_levels = resolve_levels(self.levels, self.w_levels, a_bits, w_bits)
        return QuantSetting(self.quantizer, float(self.beta), int(levels), int(w_levels), self.granularity)

    def key(self) -> tuple:
        """Cache key (call on a resolved setting)."""
        return (self.quantizer, float(self.beta), self.levels, self.w_levels, self.granularity)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quantize_operand(x: np.ndarray, bits: int, levels: int, setting: QuantSetting, granularity: str,
                     name: str) -> Quantized:
    """RTN-quantize one operand (float matrix) with the setting's quantizer, beta and `levels`."""
    return quantize_rtn(x, bits, setting.beta, granularity, levels=levels,
                        quantizer=setting.quantizer, name=name)


def dequantize_product(C: np.ndarray, qa: Quantized, qb: Quantized) -> np.ndarray:
    """Float64 C / (scale_A · scale_B): scales per tensor (0-d), per row of A (M x 1) or per
    column of B (1 x N) broadcast over C."""
    sa = np.asarray(qa.scale, dtype=np.float64)
    sb = np.asarray(qb.scale, dtype=np.float64)
    return np.asarray(C, dtype=np.float64) / sa / sb


@dataclass
class GemmLog:
    """What one engine computed: GEMM count and MACs; for the imsim engine also the unpacked
    low-bit MACs and the summed cost on the design."""

    gemms: int = 0
    macs: int = 0
    low_macs: int = 0
    results: list = field(default_factory=list)  # GemmResult per GEMM (imsim engine with cost)


_I64_MAX = (1 << 63) - 1
_F64_EXACT = 1 << 53


def int_product(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Exact A @ B of integer matrices without any imsim code path. With bound = K max|A| max|B|
    (>= every |partial sum|): float64 matmul when bound < 2^53 (every partial sum is then an
    exactly representable integer), numpy int64 matmul when it fits int64, else Python integers."""
    A = np.asarray(A, dtype=np.int64)
    B = np.asarray(B, dtype=np.int64)
    ma = int(np.abs(A).max()) if A.size else 0
    mb = int(np.abs(B).max()) if B.size else 0
    bound = A.shape[1] * ma * mb
    if bound < _F64_EXACT:
        return (A.astype(np.float64) @ B.astype(np.float64)).astype(np.int64)
    if bound <= _I64_MAX:
        return np.matmul(A, B)
    return A.astype(object) @ B.astype(object)


class FloatGemms:
    """Every GEMM in float (torch's own kernels): the reference model."""

    passthrough = True

    def __init__(self) -> None:
        self.log = GemmLog()


class QuantizedGemms:
    """The non-unpacked quantized run: exact integer product of the quantized operands."""

    passthrough = False

    def __init__(self, setting: QuantSetting, a_bits: int, w_bits: int) -> None:
        self.setting = setting.resolved(a_bits, w_bits)
        self.a_bits, self.w_bits = a_bits, w_bits
        self.log = GemmLog()

    def quantize(self, A: np.ndarray, B: np.ndarray) -> tuple[Quantized, Quantized]:
        s = self.setting
        ga, gb = GRANULARITIES[s.granularity]
        return (quantize_operand(A, self.a_bits, s.levels, s, ga, "A"),
                quantize_operand(B, self.w_bits, s.w_levels, s, gb, "B"))

    def matmul(self, A: np.ndarray, B: np.ndarray, kind: str) -> np.ndarray:
        qa, qb = self.quantize(A, B)
        self.log.gemms += 1
        self.log.macs += A.shape[0] * A.shape[1] * B.shape[1]
        return dequantize_product(int_product(qa.q, qb.q), qa, qb)


class ImsimGemms(QuantizedGemms):
    """Quantize, unpack for `hw` (`strategy`, `digits`), execute in the design's accumulators,
    recombine, dequantize; with `cost`, each unpacked GEMM is also costed on `hw` (cycles, energy)."""

    def __init__(self, setting: QuantSetting, hw, strategy: str = "auto", timing: str = "pipelined",
                 cost: bool = True, digits: str = "signmag") -> None:
        super().__init__(setting, hw.a_bits, hw.w_bits)
        self.hw, self.strategy, self.timing, self.cost, self.digits = hw, strategy, timing, cost, digits

    def matmul(self, A: np.ndarray, B: np.ndarray, kind: str) -> np.ndarray:
        from imsim.execute import run_passes
        from imsim.recombine import recombine_exact
        from imsim.simulate import simulate_gemm
        from imsim.unpack import unpack_gemm

        hw = self.hw
        qa, qb = self.quantize(A, B)
        ug = unpack_gemm(qa.q, qb.q, hw.a_bits, hw.w_bits, self.strategy, digits=self.digits)
        M, _, N = ug.shape
        name = f"{kind}#{self.log.gemms}"
        passes = run_passes(ug, hw, name=name)
        C = recombine_exact(passes, ug.plan, M, N, acc_bits=hw.recomb_acc_bits, policy=hw.overflow, name=name).C
        self.log.gemms += 1
        self.log.macs += ug.useful_macs
        self.log.low_macs += ug.macs
        if self.cost:
            self.log.results.append(simulate_gemm(hw, ug, timing=self.timing, execute=False,
                                                  meta={"name": name, "kind": kind}))
        return dequantize_product(C, qa, qb)


# ------------------------------------------------------------------------ torch interception

def _gemm_ops(torch) -> dict:
    aten = torch.ops.aten
    return {aten.mm: "mm", aten.addmm: "addmm", aten.bmm: "bmm", aten.baddbmm: "baddbmm"}


def _run(engine, a, b, kind: str):
    """engine.matmul on torch tensors (2-D or batched 3-D), result in a's dtype."""
    import torch  # noqa: PLC0415

    A = a.detach().to(torch.float32).numpy() if a.dtype != torch.float64 else a.detach().numpy()
    B = b.detach().to(torch.float32).numpy() if b.dtype != torch.float64 else b.detach().numpy()
    if A.ndim == 2:
        out = engine.matmul(A, B, kind)
    else:
        out = np.stack([engine.matmul(A[i], B[i], kind) for i in range(A.shape[0])])
    return torch.from_numpy(np.ascontiguousarray(out)).to(a.dtype)


@contextmanager
def through(engine, model=None) -> Iterator[None]:
    """Within this block, every GEMM torch runs is computed by `engine` (see the module doc).
    Kinds: the innermost imsim.trace.capture.gemm_label, else `linear` when an operand is one
    of `model`'s parameters, else `matmul`."""
    if getattr(engine, "passthrough", False):
        yield
        return
    import torch  # noqa: PLC0415
    from torch.utils._python_dispatch import TorchDispatchMode  # noqa: PLC0415

    from imsim.trace.capture import _current_label  # noqa: PLC0415

    ops = _gemm_ops(torch)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()} if model is not None else set()

    def kind_of(a, b) -> str:
        label = _current_label()
        if label:
            return label[0]
        if a.untyped_storage().data_ptr() in params or b.untyped_storage().data_ptr() in params:
            return "linear"
        return "matmul"

    class _Through(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            op = ops.get(func.overloadpacket)
            if op is None:
                return func(*args, **kwargs)
            if op in ("mm", "bmm"):
                return _run(engine, args[0], args[1], kind_of(args[0], args[1]))
            beta = kwargs.get("beta", args[3] if len(args) > 3 else 1)
            alpha = kwargs.get("alpha", args[4] if len(args) > 4 else 1)
            prod = _run(engine, args[1], args[2], kind_of(args[1], args[2]))
            return beta * args[0] + alpha * prod if beta != 0 else alpha * prod

    with _Through():
        yield
