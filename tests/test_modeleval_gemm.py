import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.errors import UserError
from imsim.hwconfig import load_hw_config
from imsim.modeleval.gemm import ImsimGemms, QuantizedGemms, QuantSetting, int_product


def _operands(seed, M, K, N):
    rng = np.random.default_rng(seed)
    A = rng.standard_t(2, size=(M, K)).astype(np.float32)  # heavy tails: heavy hitters at beta < 1
    B = rng.standard_normal((K, N)).astype(np.float32)
    return A, B


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), M=st.integers(1, 12), K=st.integers(1, 40), N=st.integers(1, 12),
       bits=st.sampled_from([2, 3, 4, 8]), levels=st.sampled_from([3, 7, 15, 255]),
       beta=st.sampled_from([0.9, 0.99, 1.0]), strategy=st.sampled_from(["row", "col", "both", "auto"]),
       granularity=st.sampled_from(["tensor", "channel"]))
def test_unpacked_run_equals_quantized_run_bit_for_bit(seed, M, K, N, bits, levels, beta, strategy, granularity):
    A, B = _operands(seed, M, K, N)
    hw = load_hw_config("default", [f"a_bits={bits}", f"w_bits={bits}", "rows=4", "cols=4"])
    setting = QuantSetting(beta=beta, levels=levels, granularity=granularity)
    unpacked = ImsimGemms(setting, hw, strategy=strategy, cost=False).matmul(A, B, "linear")
    quantized = QuantizedGemms(setting, bits, bits).matmul(A, B, "linear")
    assert np.array_equal(unpacked, quantized)


def test_int_product_is_exact_beyond_float_and_int64():
    A = np.array([[2**40, -3], [1, 1]], dtype=np.int64)
    B = np.array([[2**22, 1], [5, 2**40]], dtype=np.int64)
    want = [[int(a) * int(b) + int(c) * int(d) for (b, d) in ((B[0, j], B[1, j]) for j in range(2))]
            for (a, c) in ((A[i, 0], A[i, 1]) for i in range(2))]
    assert int_product(A, B).tolist() == want
    rng = np.random.default_rng(1)
    X, Y = rng.integers(-128, 129, (5, 9)), rng.integers(-128, 129, (9, 4))
    assert int_product(X, Y).tolist() == (X.astype(object) @ Y.astype(object)).tolist()


def test_quality_falls_with_levels_and_cost_is_counted():
    A, B = _operands(3, 16, 64, 24)
    ref = A.astype(np.float64) @ B
    hw = load_hw_config("default", ["a_bits=4", "w_bits=4"])
    errs = []
    for levels in (255, 15, 3):
        eng = ImsimGemms(QuantSetting(beta=0.99, levels=levels), hw)
        C = eng.matmul(A, B, "linear")
        errs.append(np.linalg.norm(C - ref) / np.linalg.norm(ref))
        assert eng.log.gemms == 1 and eng.log.results[0].cycles > 0 and eng.log.low_macs >= eng.log.macs
    assert errs[0] < errs[1] < errs[2] and errs[0] < 0.02


def test_default_levels_follow_the_operand_widths():
    assert QuantSetting().resolved(4, 8).key()[2:4] == (15, 255)
    assert QuantSetting(levels=7).resolved(4, 8).key()[2:4] == (7, 7)
    assert QuantSetting(levels=7, w_levels=31).resolved(2, 2).key()[2:4] == (7, 31)
    with pytest.raises(UserError, match="granularity"):
        QuantSetting(granularity="row")


def test_through_routes_every_torch_gemm():
    torch = pytest.importorskip("torch")
    from imsim.modeleval.gemm import FloatGemms, through

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 6)

        def forward(self, x, y):
            h = self.fc(x)                      # addmm (bias)
            return h @ h.transpose(-1, -2) + (x @ y).sum()  # bmm (batch 2) and bmm

    torch.manual_seed(0)
    net = Net().eval()
    x, y = torch.randn(2, 5, 8), torch.randn(2, 8, 3)
    calls = []

    class Spy(QuantizedGemms):
        def matmul(self, A, B, kind):
            calls.append((A.shape, B.shape, kind))
            return super().matmul(A, B, kind)

    with torch.no_grad():
        want = net(x, y)
        with through(FloatGemms(), net):
            assert torch.equal(net(x, y), want)
        with through(Spy(QuantSetting(levels=4095), 16, 16), net):
            got = net(x, y)
    assert sorted(k for *_, k in calls) == ["linear"] + ["matmul"] * 4
    assert len(calls) == 5  # one addmm + two bmm of batch 2, split per batch element
    assert torch.allclose(got, want, rtol=1e-3, atol=1e-3)
