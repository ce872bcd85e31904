"""`imsim capture module PKG.MOD:FACTORY`: the factory contract, --input shapes, --backward, errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra (pip install 'imsim[torch]')")

from imsim.cli import main  # noqa: E402
from imsim.trace import conv as convlow  # noqa: E402
from imsim.trace import open_trace  # noqa: E402

pytestmark = pytest.mark.torch
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@pytest.fixture(autouse=True)
def importable(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))


def test_forward_records_equal_the_modules_values(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["capture", "module", "capture_factory_example:make", "--out", str(out), "--float32", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    trace = open_trace(out)
    assert [(r.name, r.kind, r.phase) for r in trace] == [("conv", "conv", "fwd"), ("fc", "linear", "fwd")]
    assert info["gemms"] == 2 and not info["backward"] and trace.meta["provenance"] == "real"
    import capture_factory_example as ex

    net, (x, scale) = ex.make()
    y = net.conv(x).detach().numpy()
    rec = trace[0]
    g = convlow.geometry(x.shape, net.conv.weight.shape, 1, 1, 1, 1)
    got = convlow.output_from_gemm(rec.A @ rec.B, g) + net.conv.bias.detach().numpy()[None, :, None]
    np.testing.assert_allclose(got, y, rtol=1e-5, atol=1e-5)


def test_backward_and_input_shapes(tmp_path, capsys):
    out = tmp_path / "t.npz"
    assert main(["capture", "module", "capture_factory_example:make", "--input", "3x3x7", "--input", "x.npy",
                 "--out", str(out)]) == 2  # a missing .npy file is a user error
    assert "x.npy" in capsys.readouterr().err
    np.save(tmp_path / "s.npy", np.array(1.5))
    assert main(["capture", "module", "capture_factory_example:make", "--input", "3x3x7", "--input",
                 str(tmp_path / "s.npy"), "--backward", "--out", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["inputs"] == [[3, 3, 7], []] and info["backward"]
    kinds = sorted((r.phase, r.kind) for r in open_trace(out))
    assert kinds == [("bwd", "grad_input"), ("bwd", "grad_weight"), ("bwd", "grad_weight"),
                     ("fwd", "conv"), ("fwd", "linear")]
    assert open_trace(out)[0].shape == (3 * 7, 3 * 3, 4)


def test_file_path_factory_runs_the_documented_example(tmp_path, capsys):
    example = ROOT / "experiments" / "capture_module_example.py"
    assert main(["capture", "module", f"{example}:tiny_cnn", "--backward", "--out", str(tmp_path / "tiny")]) == 0
    assert "captured 29 GEMMs" in capsys.readouterr().out


@pytest.mark.parametrize("spec,needle", [
    ("nosuchmodule_xyz:make", "cannot import"),
    ("capture_factory_example:missing", "no callable"),
    ("capture_factory_example:not_a_factory", "must return"),
    ("capture_factory_example", "PKG.MOD:FACTORY"),
])
def test_bad_factories_are_one_line(spec, needle, tmp_path, capsys):
    assert main(["capture", "module", spec, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
