"""MTCNN with facenet-pytorch's real weights: loads offline, detects the generated face better than
noise, and `imsim capture cnn` writes the named `cnn` trace (conv + linear, fwd + bwd)."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra (pip install 'imsim[torch]')")

from offline import no_network  # noqa: E402,F401 (fixture)

from imsim.cli import main  # noqa: E402
from imsim.trace import open_trace  # noqa: E402
from imsim.trace.registry import TRACE_DIR_ENV  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.skipif(
    importlib.util.find_spec("facenet_pytorch") is None, reason="needs facenet-pytorch (pip install --no-deps)")]


def test_weights_load_and_onet_prefers_the_face_to_noise():
    from imsim.models.mtcnn import crops, face_image, load_mtcnn

    model = load_mtcnn()
    img = face_image(96, 128)
    face = torch.from_numpy((crops(img, 48, 4) - 127.5) * 0.0078125)
    noise = torch.from_numpy(np.random.default_rng(0).normal(0, 1, face.shape).astype(np.float32))
    with torch.no_grad():
        p_face = model.onet(face)[0][:, 1].mean().item()
        p_noise = model.onet(noise)[0][:, 1].mean().item()
    assert p_face > p_noise


def test_capture_cnn_writes_the_named_trace_offline(tmp_path, monkeypatch, capsys, no_network):
    monkeypatch.setenv(TRACE_DIR_ENV, str(tmp_path))
    assert main(["capture", "cnn", "--size", "48x64", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert no_network == []
    trace = open_trace(tmp_path / "cnn")
    assert len(trace) == info["gemms"] and info["skipped_ops"] == {}
    kinds = {(r.phase, r.kind) for r in trace}
    assert kinds == {("fwd", "conv"), ("fwd", "linear"), ("bwd", "grad_input"), ("bwd", "grad_weight")}
    first = trace[0]
    assert first.name == "pnet.conv1" and first.shape == (46 * 62, 27, 10)
    assert first.meta["conv"]["kernel_size"] == [3, 3] and first.meta["provenance"] == "real"
    assert main(["trace", "stats", "cnn", "--bits", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"]["gemms"] == len(trace)
