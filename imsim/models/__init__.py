"""Real models rebuilt in plain PyTorch from files of installed PyPI packages (offline).

One module per model: `minilm` (all-MiniLM-L6-v2, sentence embeddings) and `smollm2`
(SmolLM2-135M, a Llama-architecture LLM from a GGUF file). `layers` holds the layer filter
shared by their captures. Nothing here is imported by the simulator core; torch is imported
lazily inside the functions that need it.
"""
