"""Silero VAD (16 kHz) in plain torch with the real weights PyPI `silero-vad` ships
(silero_vad/data/silero_vad_16k.safetensors, read with safetensors; the package is not imported).

Per chunk of 512 samples (plus 64 samples of context, reflect-padded by 64): an STFT as a
Conv1d with a fixed basis (258 filters of 256 taps, stride 128), magnitudes of the 129 bins, a
conv1d encoder (129->128 k3, 128->64 k3 s2, 64->64 k3 s2, 64->128 k3, ReLU), an LSTM cell
(128 -> 128) carrying state from chunk to chunk, and a 1x1 conv + sigmoid: the speech
probability. The encoder runs batched over all chunks (its GEMMs have M = chunks x positions),
the LSTM cell chunk by chunk (M = 1 GEMVs).

The audio is **procedurally generated** (`speech_like`): a seeded harmonic signal with a
gliding pitch, syllable-rate amplitude modulation and pauses, plus noise. No audio ships with
imsim; the weights are real, the activations are those of this signal.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imsim.models.package_files import installed_file

DIST = "silero-vad"
WEIGHTS = "silero_vad/data/silero_vad_16k.safetensors"
INSTALL = "pip install --no-deps silero-vad==6.2.3 (with the torch extra)"
RATE, CHUNK, CONTEXT, PAD = 16000, 512, 64, 64


def weight_file() -> Path:
    """Path of the 16 kHz state dict inside the installed silero-vad."""
    return installed_file(DIST, WEIGHTS, INSTALL, "the Silero VAD weights")


def load_vad():
    """The VAD as an nn.Module (eval mode) with the shipped weights (strict load)."""
    import torch
    from safetensors.torch import load_file
    from torch import nn

    class SileroVAD(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stft_conv = nn.Conv1d(1, 258, 256, stride=128, bias=False)
            self.conv1 = nn.Conv1d(129, 128, 3, padding=1)
            self.conv2 = nn.Conv1d(128, 64, 3, stride=2, padding=1)
            self.conv3 = nn.Conv1d(64, 64, 3, stride=2, padding=1)
            self.conv4 = nn.Conv1d(64, 128, 3, padding=1)
            self.lstm_cell = nn.LSTMCell(128, 128)
            self.final_conv = nn.Conv1d(128, 1, 1)

        def encode(self, chunks):
            """(B, 576) samples with context -> (B, 128) features."""
            x = nn.functional.pad(chunks, (0, PAD), mode="reflect").unsqueeze(1)
            x = self.stft_conv(x)
            x = (x[:, :129] ** 2 + x[:, 129:] ** 2).sqrt()
            for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
                x = torch.relu(conv(x))
            return x.squeeze(-1)

        def forward(self, chunks):
            """Speech probability per chunk (B,), the LSTM state carried through the chunks in order."""
            feats = self.encode(chunks)
            state, probs = None, []
            for t in range(feats.shape[0]):
                h, c = self.lstm_cell(feats[t:t + 1], state)
                state = (h, c)
                probs.append(torch.sigmoid(self.final_conv(torch.relu(h).unsqueeze(-1))).reshape(1))
            return torch.cat(probs)

    model = SileroVAD()
    model.load_state_dict(load_file(str(weight_file())))
    return model.eval()


def speech_like(seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    """A procedurally generated 16 kHz signal (float32 in [-1, 1]), `seconds` rounded up to whole
    512-sample chunks: voiced syllables (harmonics of a gliding 110-220 Hz pitch, 4 Hz amplitude
    envelope) with a pause in the middle, plus noise (so no STFT window is all zeros, where the
    magnitude's gradient would be infinite)."""
    rng = np.random.default_rng(seed)
    t = np.arange(-(-int(seconds * RATE) // CHUNK) * CHUNK) / RATE  # whole chunks: no all-zero STFT window
    pitch = 110 + 110 * (0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    envelope[(t > 0.4 * seconds) & (t < 0.6 * seconds)] = 0.0  # a pause
    x = 0.3 * voice * envelope + 0.01 * rng.standard_normal(t.size)
    return (x / max(1.0, np.abs(x).max())).astype(np.float32)


def chunks(audio: np.ndarray) -> np.ndarray:
    """(chunks, 576): consecutive 512-sample chunks, each with the 64 samples before it (zeros first)."""
    n = -(-audio.size // CHUNK) * CHUNK
    x = np.concatenate([np.zeros(CONTEXT, np.float32), audio, np.zeros(n - audio.size, np.float32)])
    return np.stack([x[i:i + CONTEXT + CHUNK] for i in range(0, n, CHUNK)])


def capture_vad(seconds: float = 0.5, backward: bool = True, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """Capture the VAD on `seconds` of the generated signal; with `backward`, the gradients of the
    binary cross-entropy towards 'speech' on voiced chunks and 'silence' on the pause. (trace, info)"""
    import torch

    from imsim.trace.capture import capture_gemms

    model = load_vad()
    audio = speech_like(seconds, seed)
    x = torch.from_numpy(chunks(audio))
    starts = np.arange(x.shape[0]) * CHUNK / RATE
    target = torch.tensor(~((starts > 0.4 * seconds) & (starts < 0.6 * seconds)), dtype=torch.float32)

    def step():
        probs = model(x)
        return torch.nn.functional.binary_cross_entropy(probs.clamp(1e-6, 1 - 1e-6), target)

    if not backward:
        for p in model.parameters():
            p.requires_grad_(False)
    trace = capture_gemms(model, step, model_name="silero-vad", backward=backward)
    info = {"model": "silero-vad 16 kHz (silero-vad weights)",
            "audio": f"procedurally generated {seconds:g} s at 16 kHz (seed {seed})", "chunks": int(x.shape[0]),
            "gemms": len(trace), "macs": trace.macs, "skipped_ops": dict(trace.meta.get("skipped_ops", {}))}
    return trace, info
