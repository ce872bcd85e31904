"""Convolution capture: every compute op of a Conv1d + Conv2d (stride, padding, dilation, groups)
+ Linear + matmul model becomes GEMM records whose products equal the model's own values
(forward outputs, input and weight gradients); ops capture cannot lower are warned about and
listed in the trace's metadata."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra (pip install 'imsim[torch]')")
from torch import nn  # noqa: E402

from imsim.trace import conv as convlow  # noqa: E402
from imsim.trace import open_trace, save_trace  # noqa: E402
from imsim.trace.capture import CaptureWarning, capture_module  # noqa: E402

pytestmark = pytest.mark.torch


class ConvNet(nn.Module):
    """Conv1d (stride 2, padding 1, groups 2) -> Conv2d (stride, padding, dilation, groups 3) ->
    Linear -> matmul with a parameter-free right operand."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2)
        self.c2 = nn.Conv2d(3, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=3)
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        self.x1 = x
        self.y1 = self.c1(x)                                   # (B, 6, 4)
        self.y1.retain_grad()
        self.x2 = self.y1.reshape(x.shape[0], 3, 2, 4)         # (B, 3, 2, 4)
        self.y2 = self.c2(self.x2)                             # (B, 6, H, W)
        self.y2.retain_grad()
        h = self.y2.flatten(2).transpose(1, 2)                 # (B, HW, 6)
        self.h = self.fc(h)                                    # (B, HW, 5)
        self.h.retain_grad()
        return self.h @ self.h.transpose(1, 2)                 # (B, HW, HW)


@pytest.fixture(scope="module")
def captured():
    torch.manual_seed(0)
    model = ConvNet().double()
    x = torch.randn(2, 4, 7, dtype=torch.float64, requires_grad=True)
    trace = capture_module(model, x, loss_fn=lambda y: (y ** 2).sum(), model_name="convnet")
    return model, x, trace


def _close(got, want):
    np.testing.assert_allclose(got, want.detach().numpy() if hasattr(want, "detach") else want,
                               rtol=1e-10, atol=1e-10)


def _groups(trace, prefix):
    recs = [r for r in trace if r.name == prefix or r.name.startswith(prefix + "[g")]
    return sorted(recs, key=lambda r: r.meta.get("group_index", 0))


def _geo(rec):
    c = rec.meta["conv"]
    return convlow.ConvGeometry(c["batch"], c["in_channels"], c["out_channels"], c["groups"],
                                tuple(c["input_size"]), tuple(c["kernel_size"]), tuple(c["stride"]),
                                tuple(c["padding"]), tuple(c["dilation"]))


@pytest.mark.parametrize("conv", ["c1", "c2"])
def test_conv_forward_and_backward_products_equal_the_models_values(captured, conv):
    model, x, trace = captured
    mod = getattr(model, conv)
    fwd, d_in, d_w = _groups(trace, conv), _groups(trace, f"{conv}/dA"), _groups(trace, f"{conv}/dB")
    assert len(fwd) == len(d_in) == len(d_w) == mod.groups
    assert {r.kind for r in fwd} == {"conv"} and {r.kind for r in d_in} == {"grad_input"}
    assert {r.kind for r in d_w} == {"grad_weight"}
    g = _geo(fwd[0])
    assert fwd[0].meta["conv"]["stride"] == list(mod.stride) and fwd[0].meta["conv"]["groups"] == mod.groups
    assert fwd[0].meta["conv"]["padding"] == list(mod.padding)
    assert fwd[0].meta["conv"]["kernel_size"] == list(mod.kernel_size)
    assert fwd[0].meta["provenance"] == "real"
    y, x_in = (model.y1, model.x1) if conv == "c1" else (model.y2, model.x2)
    bias = mod.bias.detach().numpy().reshape(1, -1, *([1] * len(g.input_size)))
    out = np.concatenate([convlow.output_from_gemm(r.A @ r.B, g) for r in fwd], axis=1)
    _close(out + bias, y)
    dx = np.concatenate([convlow.col2im(r.A @ r.B, g, g.group_in) for r in d_in], axis=1)
    want_dx = x.grad if conv == "c1" else model.y1.grad.reshape(x_in.shape)
    _close(dx, want_dx)
    dw = np.concatenate([(r.A @ r.B).T.reshape(g.group_out, g.group_in, *g.kernel_size) for r in d_w])
    _close(dw, mod.weight.grad)
    # the lowered forward GEMM has the im2col shape: M = N x output positions, K = C_in/g x kernel
    M, K, N = fwd[0].shape
    assert (M, K, N) == (g.batch * g.positions, g.group_in * int(np.prod(g.kernel_size)), g.group_out)


def test_linear_and_matmul_records_and_nothing_skipped(captured):
    model, _, trace = captured
    by = {r.name: r for r in trace}
    B = model.h.shape[0]
    _close(by["fc"].A @ by["fc"].B + model.fc.bias.detach().numpy(), model.h.reshape(-1, 5))
    for b in range(B):
        _close(by[f"matmul[{b}]"].A @ by[f"matmul[{b}]"].B, model.h[b] @ model.h[b].T)
    assert trace.meta["skipped_ops"] == {} and trace.meta["provenance"] == "real"
    fwd_kinds = [r.kind for r in trace if r.phase == "fwd"]
    assert fwd_kinds.count("conv") == 2 + 3 and fwd_kinds.count("linear") == 1
    assert fwd_kinds.count("matmul") == B


def test_unlowerable_ops_warn_and_are_listed(tmp_path):
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.up = nn.ConvTranspose1d(2, 3, 3)
            self.fc = nn.Linear(5, 4)

        def forward(self, x):
            v = self.up(x)[0, 0]              # transposed conv: not lowered
            q = torch.ones(1, 2, 3, 4)
            att = nn.functional.scaled_dot_product_attention(q, q, q)  # fused: QK^T and PV hidden
            acc = torch.zeros(2, 2).addmm_(torch.ones(2, 3), torch.ones(3, 2))  # in place: recorded
            return self.fc(v) @ torch.ones(4) + torch.mv(torch.ones(2, 3), torch.ones(3)).sum() + att.sum() + acc.sum()

    with pytest.warns(CaptureWarning, match="skipped compute ops"):
        trace = capture_module(Odd(), torch.randn(1, 2, 3), backward=False)
    skipped = trace.meta["skipped_ops"]
    assert skipped["convolution(transposed)"] == 1 and skipped["mv"] >= 1
    assert any("attention" in op for op in skipped)
    assert [r.kind for r in trace] == ["matmul", "linear"]
    assert trace[0].shape == (2, 3, 2) and trace[0].meta["aten"] == "addmm"
    back = open_trace(save_trace(tmp_path / "odd.npz", trace))
    assert back.meta["skipped_ops"] == skipped  # stored in the file's header
