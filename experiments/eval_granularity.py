"""SmolLM2-135M perplexity through imsim's quantization, per tensor vs per token/channel
(needs the torch and llm extras; a few minutes on 2 cores).

Run:  python experiments/eval_granularity.py
Prints one line per (granularity, levels) with the perplexity and the float model's.
"""
from __future__ import annotations

import sys

from imsim.modeleval.evaluate import model_quality
from imsim.modeleval.gemm import QuantSetting


def main() -> int:
    for granularity in ("tensor", "channel"):
        for levels in (255, 15):
            q = model_quality("smollm2", QuantSetting(beta=1.0, levels=levels, granularity=granularity), 8, 8)
            print(f"granularity {granularity:8s} levels {levels:3d}: perplexity {q['perplexity']:10.2f} "
                  f"(float {q['perplexity_float']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
