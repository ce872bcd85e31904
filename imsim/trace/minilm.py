"""Compatibility import path: the MiniLM model lives in imsim.models.minilm."""
from imsim.models.minilm import (INSTALL_HINT, MODEL_NAME, PACKAGE, BertConfig, build_model,
                                 capture_minilm, default_sentences, load_minilm, model_dir, pair_loss,
                                 set_offline, tokenize)

__all__ = ["INSTALL_HINT", "MODEL_NAME", "PACKAGE", "BertConfig", "build_model", "capture_minilm",
           "default_sentences", "load_minilm", "model_dir", "pair_loss", "set_offline", "tokenize"]
