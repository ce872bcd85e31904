"""Silero VAD with the weights of PyPI silero-vad: loads offline, and `imsim capture vad` writes the
named `vad` trace: conv1d encoder GEMMs batched over chunks, LSTM-cell GEMVs (M = 1) per chunk."""
from __future__ import annotations

import importlib.util
import json

import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra (pip install 'imsim[torch]')")

from offline import no_network  # noqa: E402,F401 (fixture)

from imsim.cli import main  # noqa: E402
from imsim.trace import open_trace  # noqa: E402
from imsim.trace.registry import TRACE_DIR_ENV  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.skipif(
    importlib.util.find_spec("silero_vad") is None or importlib.util.find_spec("safetensors") is None,
    reason="needs silero-vad (pip install --no-deps) and safetensors")]


def test_capture_vad_writes_the_named_trace_offline(tmp_path, monkeypatch, capsys, no_network):
    monkeypatch.setenv(TRACE_DIR_ENV, str(tmp_path))
    assert main(["capture", "vad", "--seconds", "0.1", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert no_network == []
    chunks = info["chunks"]
    assert chunks == 4 and info["skipped_ops"] == {}
    trace = open_trace(tmp_path / "vad")
    by = {r.name: r for r in trace}
    assert by["stft_conv"].shape == (chunks * 4, 256, 258)       # 640 samples, 256 taps, stride 128
    assert by["conv2"].meta["conv"]["stride"] == [2]
    lstm = [r for r in trace if r.phase == "fwd" and r.name.startswith("lstm_cell")]
    assert len(lstm) == 2 * chunks and {r.shape for r in lstm} == {(1, 128, 512)}
    assert {r.kind for r in trace} == {"conv", "linear", "grad_input", "grad_weight"}
    assert main(["trace", "list", "vad", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["gemms"] == len(trace)
    assert main(["trace", "stats", "vad", "--bits", "4", "--json"]) == 0  # every operand finite
    capsys.readouterr()
