"""Capture every GEMM a PyTorch nn.Module performs, forward and backward, as trace records.

A TorchDispatchMode sees every aten `mm`, `addmm`, `bmm` and `baddbmm` call (`linear` and
`matmul` decompose into them), below autograd, so backward GEMMs are caught too.

Convolutions (`aten.convolution`, Conv1d/2d/3d) and their backward (`aten.convolution_backward`)
are lowered to GEMMs by im2col of the actual values (`imsim.trace.conv`): kind `conv` forward,
`grad_input` / `grad_weight` backward, one record per group (`...[gJ]` when groups > 1), the
geometry in `meta["conv"]`. Any other compute op that capture cannot lower (transposed
convolutions, fused attention, `mv`, `dot`, ...; see COMPUTE_PATTERN) is counted: capture warns
(CaptureWarning) and the trace's metadata lists it under `skipped_ops`; nothing is dropped silently.

Batched GEMMs (`bmm`, `baddbmm`, e.g. attention over batch x heads) are **split**: one record
per batch element, named `...[b]`, with `meta["batch_index"]`, `meta["batch_size"]` and
`meta["call"]` (the aten call they came from), so every record is a plain 2-D GEMM
A (M x K) · B (K x N). For `addmm`/`baddbmm` the record holds the product only; the bias
and beta/alpha are noted in meta.

Labels. Forward kind: the innermost `gemm_label(kind)` context if the model uses one, else
`linear` when an operand is a view of one of the model's parameters, else `attn_pv` when A
is a softmax output, else `matmul`. Names are module paths (forward hooks track them): an
nn.Linear's GEMM is named after the module, other GEMMs `<module path>.<kind>`, repeats get
`#2`, `#3`. Backward GEMMs are tied to their forward call through the autograd node being
run (`torch._C._current_autograd_node()`, tagged in forward via `grad_fn.metadata`), and
which operand they differentiate is found by matching saved operands (storage, offset, shape,
strides) against the forward ones. They are named `<forward name>/dA` or `/dB`; their kind is
`grad_input` (gradient w.r.t. the activation operand) or `grad_weight` (w.r.t. a parameter)
when the forward GEMM had a parameter operand, else `<forward kind>_grad` (e.g.
`attn_qk_grad`). Unattributed backward GEMMs are `matmul_grad`.

Operands are copied to numpy at once (float64 stays float64, other floats become float32),
so later in-place updates (the optimizer step) do not change them. torch is imported lazily.
"""
from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from imsim.errors import UserError
from imsim.trace import conv as convlow
from imsim.trace.format import GemmRecord, Trace, make_record

_labels = threading.local()

# aten ops that compute products but that capture does not lower to GEMM records: any op whose
# name matches COMPUTE_PATTERN (and not NOT_COMPUTE) other than the GEMM and convolution ops
# handled here, e.g. mv, dot, addbmm, _int_mm, fused attention (_scaled_dot_product_*),
# cudnn/mkldnn convolutions, lstm/gru kernels. They are counted in the trace metadata
# (`skipped_ops`) with a warning. Transposed convolutions are counted as `convolution(transposed)`.
COMPUTE_PATTERN = re.compile(r"mm|conv|dot|attention|linear|gemm|gemv|matmul|lstm|gru|rnn|^mv$|^addmv_?$|^addr_?$|^ger$")
NOT_COMPUTE = re.compile(r"gamma|upsample|cummax|cummin|_convert_weight")


def is_compute_op(name: str) -> bool:
    """Whether an aten op name (e.g. 'mv', '_scaled_dot_product_flash_attention_for_cpu') computes products."""
    return bool(COMPUTE_PATTERN.search(name)) and not NOT_COMPUTE.search(name)


class CaptureWarning(UserWarning):
    """Capture met compute ops it cannot lower to GEMMs (listed in the trace's `skipped_ops`)."""


@contextmanager
def gemm_label(kind: str, name: str | None = None) -> Iterator[None]:
    """Label the GEMMs run inside this block with `kind` (and optionally a name suffix)."""
    stack = _labels.__dict__.setdefault("stack", [])
    stack.append((kind, name))
    try:
        yield
    finally:
        stack.pop()


def _current_label() -> tuple[str, str | None] | None:
    stack = _labels.__dict__.get("stack", [])
    return stack[-1] if stack else None


def _torch():
    try:
        import torch  # noqa: PLC0415 (optional dependency)
    except ImportError:
        raise UserError("capturing needs PyTorch: pip install 'imsim[torch]' (torch==2.13.0)") from None
    return torch


def _key(t) -> tuple:
    """Identity of a tensor view: storage, offset, shape, strides."""
    return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))


def _key_t(t) -> tuple:
    """Identity of the tensor's transpose over its last two dims."""
    ptr, off, shape, stride = _key(t)
    return (ptr, off, shape[:-2] + shape[-2:][::-1], stride[:-2] + stride[-2:][::-1])


def _to_numpy(t) -> np.ndarray:
    torch = _torch()
    t = t.detach().cpu()
    if t.dtype == torch.float64:
        return t.numpy().copy()
    if t.is_floating_point():
        return t.to(torch.float32).numpy().copy()
    return t.to(torch.int64).numpy().copy()


@dataclass(frozen=True)
class _FwdCall:
    name: str
    kind: str
    key_a: tuple
    key_b: tuple
    a_param: bool
    b_param: bool
    mkn: tuple[int, int, int]
    op: str


def _which_grad(fwd: _FwdCall, A, B, seen: int) -> str:
    """Which forward operand ("A" or "B") a backward GEMM (operands A, B) differentiates.

    1. by shape: dA is M x K (or K x M when autograd builds its transpose), dB is K x N (or N x K);
    2. by the saved operand it uses: dA = dC·B^T (or (B·dC^T)^T) uses forward B, dB = A^T·dC
       (or (dC^T·A)^T) uses forward A, matched by storage, offset, shape and strides;
    3. by autograd's order within the node: mm/bmm compute dB first, addmm/baddbmm dA first.
    """
    M, K, N = fwd.mkn
    out = (A.shape[-2], B.shape[-1])
    is_a, is_b = out in ((M, K), (K, M)), out in ((K, N), (N, K))
    if is_a != is_b:
        return "A" if is_a else "B"
    is_a = _key_t(B) == fwd.key_b or _key(A) == fwd.key_b
    is_b = _key_t(A) == fwd.key_a or _key(B) == fwd.key_a
    if is_a != is_b:
        return "A" if is_a else "B"
    first, second = ("B", "A") if fwd.op in ("mm", "bmm") else ("A", "B")
    return first if seen == 0 else second


def _operands(packet_name: str, args: tuple, kwargs: dict) -> tuple[Any, Any, dict[str, Any]]:
    """(A, B, meta) of one aten GEMM call."""
    if packet_name in ("mm", "bmm"):
        return args[0], args[1], {}
    beta = kwargs.get("beta", args[3] if len(args) > 3 else 1)
    alpha = kwargs.get("alpha", args[4] if len(args) > 4 else 1)
    meta: dict[str, Any] = {"bias": True}
    if beta != 1:
        meta["beta"] = float(beta)
    if alpha != 1:
        meta["alpha"] = float(alpha)
    return args[1], args[2], meta


class _Recorder:
    """State of one capture: the forward calls, the records, the module path stack."""

    def __init__(self, model, model_name: str, keep: Callable[[str], bool] | None = None) -> None:
        torch = _torch()
        self.keep = keep
        self.torch = torch
        self.model_name = model_name
        self.param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.modules: list[tuple[str, Any]] = []
        self.records: list[GemmRecord] = []
        self.calls: list[_FwdCall] = []
        self.pending: list[tuple[Any, int]] = []
        self.softmax_ptrs: set[int] = set()
        self.names_seen: dict[tuple[str, str], int] = {}
        self.bwd_order: dict[int, int] = {}
        self.aten_calls = 0
        aten = torch.ops.aten
        self.gemm_ops = {aten.mm: "mm", aten.addmm: "addmm", aten.bmm: "bmm", aten.baddbmm: "baddbmm",
                         aten.addmm_: "addmm", aten.baddbmm_: "baddbmm"}
        self.softmax_ops = {getattr(aten, n) for n in ("_softmax", "softmax", "_safe_softmax") if hasattr(aten, n)}
        self.conv_ops = {aten.convolution: "convolution", aten.convolution_backward: "convolution_backward"}
        self.skipped: dict[str, int] = {}
        self.conv_geo: dict[int, convlow.ConvGeometry] = {}

    # -- module paths
    def hooks(self, model) -> list:
        handles = []
        for path, mod in model.named_modules():
            def pre(m, inputs, _p=path):
                self.modules.append((_p, m))

            def post(m, inputs, output, _p=path):
                if self.modules and self.modules[-1][0] == _p:
                    self.modules.pop()

            handles.append(mod.register_forward_pre_hook(pre))
            handles.append(mod.register_forward_hook(post))
        return handles

    def resolve_pending(self) -> None:
        """Tag autograd nodes of forward GEMM outputs with their call id.

        Runs at the next dispatched op, when autograd has attached the node (outputs that got
        none, e.g. under no_grad, are dropped)."""
        for out, call in self.pending:
            if out.grad_fn is not None:
                out.grad_fn.metadata["imsim_call"] = (id(self), call)
        self.pending = []

    def _unique(self, phase: str, name: str) -> str:
        n = self.names_seen.get((phase, name), 0) + 1
        self.names_seen[(phase, name)] = n
        return name if n == 1 else f"{name}#{n}"

    def _is_param(self, t) -> bool:
        return t.untyped_storage().data_ptr() in self.param_ptrs

    def on_op(self, func, args: tuple, kwargs: dict, out) -> None:
        packet = func.overloadpacket
        if packet in self.softmax_ops:
            self.softmax_ptrs.add(out.untyped_storage().data_ptr())
            return
        if packet in self.conv_ops:
            self._conv(self.conv_ops[packet], args, kwargs, out)
            return
        op = self.gemm_ops.get(packet)
        if op is None:
            if is_compute_op(packet.__name__):
                self._skip(packet.__name__)
            return
        A, B, meta = _operands(op, args, kwargs)
        meta["aten"] = op
        meta["call"] = self.aten_calls
        self.aten_calls += 1
        node = self.torch._C._current_autograd_node()
        if node is None:
            self._forward(A, B, meta, out)
        else:
            self._backward(node, A, B, meta)

    def _forward(self, A, B, meta: dict, out) -> None:
        label = _current_label()
        a_param, b_param = self._is_param(A), self._is_param(B)
        path, mod = self.modules[-1] if self.modules else ("", None)
        if label is not None:
            kind = label[0]
            base = ".".join(x for x in (path, label[1] or kind) if x)
        elif a_param or b_param:
            kind = "linear"
            is_linear = mod is not None and isinstance(mod, self.torch.nn.Linear)
            base = path if (is_linear and path) else ".".join(x for x in (path, kind) if x)
        else:
            kind = "attn_pv" if A.untyped_storage().data_ptr() in self.softmax_ptrs else "matmul"
            base = ".".join(x for x in (path, kind) if x)
        name = self._unique("fwd", base)
        call = len(self.calls)
        mkn = (A.shape[-2], A.shape[-1], B.shape[-1])
        self.calls.append(_FwdCall(name, kind, _key(A), _key(B), a_param, b_param, mkn, meta["aten"]))
        self.pending.append((out, call))
        meta.update(module=path)
        self._emit(A, B, name, kind, "fwd", meta)

    def _backward(self, node, A, B, meta: dict) -> None:
        tag = node.metadata.get("imsim_call") if hasattr(node, "metadata") else None
        call = tag[1] if isinstance(tag, tuple) and tag[0] == id(self) else None  # tagged by this capture
        meta["node"] = node.name()
        if call is None:
            self._emit(A, B, self._unique("bwd", "backward.matmul"), "matmul_grad", "bwd", meta)
            return
        fwd = self.calls[call]
        grad_of = _which_grad(fwd, A, B, self.bwd_order.get(call, 0))
        self.bwd_order[call] = self.bwd_order.get(call, 0) + 1
        if fwd.a_param or fwd.b_param:
            wrt_param = fwd.a_param if grad_of == "A" else fwd.b_param
            kind = "grad_weight" if wrt_param else "grad_input"
        else:
            kind = f"{fwd.kind}_grad"
        meta.update(fwd_name=fwd.name, fwd_kind=fwd.kind, grad_of=grad_of)
        self._emit(A, B, self._unique("bwd", f"{fwd.name}/d{grad_of}"), kind, "bwd", meta)

    def _skip(self, op: str) -> None:
        self.skipped[op] = self.skipped.get(op, 0) + 1

    def _conv(self, op: str, args: tuple, kwargs: dict, out) -> None:
        """Lower one aten.convolution / convolution_backward call to its im2col GEMMs."""
        names = ("input", "weight", "bias", "stride", "padding", "dilation", "transposed", "output_padding",
                 "groups") if op == "convolution" else (
            "grad_output", "input", "weight", "bias_sizes", "stride", "padding", "dilation", "transposed",
            "output_padding", "groups", "output_mask")
        a = dict(zip(names, args), **kwargs)
        if a["transposed"]:
            self._skip(f"{op}(transposed)")
            return
        node = self.torch._C._current_autograd_node()
        if op == "convolution" and node is not None:
            self._skip("convolution(inside backward)")
            return
        x = _to_numpy(a["input"])
        w = _to_numpy(a["weight"])
        geo = convlow.geometry(x.shape, w.shape, a["stride"], a["padding"], a["dilation"], a["groups"])
        meta = {"aten": op, "call": self.aten_calls, "conv": geo.meta(), "lowering": "im2col"}
        self.aten_calls += 1
        if op == "convolution":
            label = _current_label()
            path, mod = self.modules[-1] if self.modules else ("", None)
            kind = label[0] if label is not None else "conv"
            is_conv = mod is not None and isinstance(mod, self.torch.nn.modules.conv._ConvNd)
            base = path if (is_conv and path and label is None) else ".".join(
                v for v in (path, (label[1] or kind) if label else kind) if v)
            name = self._unique("fwd", base)
            call = len(self.calls)
            self.calls.append(_FwdCall(name, kind, (), (), False, self._is_param(a["weight"]), (0, 0, 0), op))
            self.conv_geo[call] = geo
            self.pending.append((out, call))
            meta.update(module=path, bias=a["bias"] is not None)
            self._groups(convlow.forward_gemms(x, w, geo), name, kind, "fwd", meta)
            return
        tag = node.metadata.get("imsim_call") if node is not None and hasattr(node, "metadata") else None
        call = tag[1] if isinstance(tag, tuple) and tag[0] == id(self) else None
        fwd_name = self.calls[call].name if call is not None else "backward.conv"
        meta.update(node=node.name() if node is not None else "", fwd_name=fwd_name, fwd_kind="conv")
        dy = _to_numpy(a["grad_output"])
        mask = a["output_mask"]
        if mask[0]:
            self._groups(convlow.grad_input_gemms(dy, w, geo), self._unique("bwd", f"{fwd_name}/dA"),
                         "grad_input", "bwd", dict(meta, grad_of="A", lowering="im2col: product = d(cols), "
                                                                             "col2im gives the input gradient"))
        if mask[1]:
            self._groups(convlow.grad_weight_gemms(dy, x, geo), self._unique("bwd", f"{fwd_name}/dB"),
                         "grad_weight", "bwd", dict(meta, grad_of="B", lowering="im2col: product = weight "
                                                                              "gradient^T"))

    def _groups(self, gemms: list, name: str, kind: str, phase: str, meta: dict) -> None:
        """One record per group of a lowered convolution (`name[gJ]` when groups > 1)."""
        if self.keep is not None and not self.keep(name):
            return  # filtered out like any GEMM (see _emit)
        for j, (A, B) in enumerate(gemms):
            suffix = f"[g{j}]" if len(gemms) > 1 else ""
            self._add(np.ascontiguousarray(A), np.ascontiguousarray(B), name + suffix, kind, phase,
                      dict(meta, group_index=j))

    def _emit(self, A, B, name: str, kind: str, phase: str, meta: dict) -> None:
        if self.keep is not None and not self.keep(name):
            return  # filtered out (e.g. a layer not selected): not copied, not recorded
        a, b = _to_numpy(A), _to_numpy(B)
        if a.ndim == 2:
            self._add(a, b, name, kind, phase, meta)
            return
        a = a.reshape(-1, *a.shape[-2:])
        b = b.reshape(-1, *b.shape[-2:])
        for i in range(a.shape[0]):
            self._add(a[i], b[i], f"{name}[{i}]", kind, phase,
                      dict(meta, batch_index=i, batch_size=a.shape[0]))

    def _add(self, a, b, name, kind, phase, meta) -> None:
        self.records.append(make_record(a, b, name=name, kind=kind, phase=phase, model=self.model_name,
                                        index=len(self.records), meta=dict(meta, provenance="real")))

    def trace_meta(self) -> dict[str, Any]:
        """Trace-level metadata: provenance and the compute ops skipped (op -> calls)."""
        return {"provenance": "real", "model": self.model_name, "skipped_ops": dict(sorted(self.skipped.items()))}


def _mode_class():
    from torch.utils._python_dispatch import TorchDispatchMode  # noqa: PLC0415

    class _GemmMode(TorchDispatchMode):
        def __init__(self, recorder: _Recorder) -> None:
            super().__init__()
            self.recorder = recorder

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            rec = self.recorder
            if rec.pending:
                rec.resolve_pending()
            out = func(*args, **kwargs)
            rec.on_op(func, args, kwargs, out)
            return out

    return _GemmMode


def capture_gemms(model, step: Callable[[], Any], *, model_name: str = "model", backward: bool = True,
                  optimizer=None, keep: Callable[[str], bool] | None = None) -> Trace:
    """Run `step()` (the forward pass; returns the loss or output) on `model` and record its GEMMs.

    With `backward`, the loss (the output summed if it is not a scalar) is back-propagated
    under capture too; then `optimizer.step()` runs if given (one optimisation step).
    `keep(name)` (optional) selects which GEMMs are recorded (by forward name or `<name>/dA|dB`).
    Returns an in-memory Trace, records in execution order (index = position).
    """
    rec = _Recorder(model, model_name, keep)  # raises UserError without torch
    handles = rec.hooks(model)
    try:
        with _mode_class()(rec):
            out = step()
            if backward:
                loss = out if out.dim() == 0 else out.sum()
                loss.backward()
    finally:
        for h in handles:
            h.remove()
    if backward and optimizer is not None:
        optimizer.step()
    if rec.skipped:
        listed = ", ".join(f"aten.{op} x{n}" for op, n in sorted(rec.skipped.items()))
        warnings.warn(f"capture of {model_name}: skipped compute ops it cannot lower to GEMMs: {listed} "
                      f"(listed in the trace's skipped_ops)", CaptureWarning, stacklevel=2)
    return Trace(tuple(rec.records), None, rec.trace_meta())


def capture_module(model, *inputs, loss_fn: Callable[[Any], Any] | None = None, backward: bool = True,
                   optimizer=None, model_name: str | None = None) -> Trace:
    """Capture `model(*inputs)` (and, with `backward`, the backward of `loss_fn(output)`, default
    the output's sum) as a trace; `optimizer.step()` follows if given."""

    def step():
        out = model(*inputs)
        return loss_fn(out) if loss_fn is not None else out

    return capture_gemms(model, step, model_name=model_name or type(model).__name__,
                         backward=backward, optimizer=optimizer)
