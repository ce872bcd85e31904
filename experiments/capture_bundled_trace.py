"""Make the bundled default trace imsim/data/minilm_l6_layer0.npz (needs the torch extra).

Captures one fine-tuning step of all-MiniLM-L6-v2 on the shipped sentences (offline, see
imsim.trace.minilm) and keeps a small real subset:
  * every GEMM of encoder layer 0: its six linear layers forward, and their grad_input and
    grad_weight GEMMs backward;
  * the attention GEMMs of layer 0 (QK^T, PV and their four backward GEMMs) for the first
    sentence's 12 heads (batch entries 0..11 of each batched call);
  * the loss GEMM (similarity of the sentence embeddings) and its two backward GEMMs.
Operands are stored as per-tensor power-of-two-scaled float16 (gradients survive).

Run:  python experiments/capture_bundled_trace.py [OUT]   (default: the package data file)
"""
from __future__ import annotations

import sys
from pathlib import Path

from imsim.trace import bundled_trace_path, save_trace
from imsim.trace.format import GemmRecord
from imsim.trace.minilm import capture_minilm

HEADS = 12


def keep(record: GemmRecord) -> bool:
    """Layer 0 (attention: first sentence's heads only) and the loss."""
    name = record.meta.get("fwd_name", record.name)
    if name.startswith("similarity") or record.kind.startswith("loss"):
        return True
    if not name.startswith("encoder.layer.0."):
        return False
    return record.meta.get("batch_index", 0) < HEADS


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else bundled_trace_path()
    trace, info = capture_minilm()
    subset = [r for r in trace if keep(r)]
    if out.exists():
        out.unlink()
    save_trace(out, subset)
    size = out.stat().st_size
    print(f"{info['model']}: {info['gemms']} GEMMs captured ({info['sentences']} sentences x {info['tokens']} "
          f"tokens); kept {len(subset)} ({sum(r.macs for r in subset)} MACs) -> {out} ({size / 2**20:.2f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
