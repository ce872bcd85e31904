"""Compare imsim's paper conventions with the official IM-Unpack code, run side by side.

Loads `unpack.py` from a local clone of github.com/vsingh-group/im-unpack (nothing is copied
into imsim; needs torch), draws random float32 GEMMs (t(3) entries, shapes up to 24 incl.
M = 1), quantizes them with the official percentile_quantize_fn arithmetic (written here in
torch) and with `imsim.quantize.quantize_rtn(quantizer="paper")`, and unpacks them with the
official unpack_row / unpack_column / unpack_both (A, then B^T) and with
`imsim.unpack.unpack_gemm(..., digits="floor")`. Prints the number of cases and mismatches
(integers and low-bit shapes); exit 1 on any mismatch.

    python experiments/compare_official_unpack.py --official PATH/TO/im-unpack/unpack.py [--cases 300]
"""
from __future__ import annotations

import argparse
import importlib.util
import sys

import numpy as np


def _load(path: str):
    spec = importlib.util.spec_from_file_location("official_unpack", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: cannot load")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def official_quantize(x: np.ndarray, beta: float, d: int):
    """The official percentile_quantize_fn's integers (before dequantization), in torch."""
    import torch

    t = torch.from_numpy(x)
    k = int(t.numel() * (1 - beta))
    alpha = t.abs().max() if beta == 1 or k == 0 else torch.topk(t.abs().reshape(-1), k=k, dim=-1).values.min()
    if alpha.item() < 1e-20:
        alpha = 1e-20
    return torch.round(t * ((0.5 * d) / alpha)).to(torch.int64)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official", required=True, metavar="unpack.py", help="the official repository's unpack.py")
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    import torch

    from imsim.quantize import quantize_rtn
    from imsim.unpack import unpack_gemm

    off = _load(args.official)
    strategies = (("row", off.unpack_row), ("col", off.unpack_column), ("both", off.unpack_both))
    rng = np.random.default_rng(args.seed)
    cases = bad_q = bad_shape = 0
    for i in range(args.cases):
        M = 1 if i % 4 == 0 else int(rng.integers(1, 24))
        K, N = int(rng.integers(1, 24)), int(rng.integers(1, 24))
        bits, d = (2, 4, 8)[i % 3], int(rng.integers(1, 128)) * 2 + 1
        beta = float(rng.choice([0.95, 0.97, 0.99, 1.0]))
        A = rng.standard_t(3, size=(M, K)).astype(np.float32)
        B = rng.standard_t(3, size=(K, N)).astype(np.float32)
        qa_t, qb_t = official_quantize(A, beta, d), official_quantize(B, beta, d)
        qa, qb = quantize_rtn(A, bits, beta, levels=d).q, quantize_rtn(B, bits, beta, levels=d).q
        bad_q += not (np.array_equal(qa, qa_t.numpy()) and np.array_equal(qb, qb_t.numpy()))
        for name, fn in strategies:
            Au, Be, _, _, s_u = off.unpack(qa_t.clone(), qb_t.T.contiguous().clone(),
                                           torch.ones(K, dtype=torch.int64), bits, fn)
            Beu, Aue, _, _, _ = off.unpack(Be, Au, s_u, bits, fn)
            cases += 1
            if unpack_gemm(qa, qb, bits, bits, name, "floor").low_shape != (Aue.shape[0], Aue.shape[1], Beu.shape[0]):
                bad_shape += 1
    print(f"{cases} (GEMM, strategy) cases: {bad_q} quantization mismatches, {bad_shape} unpacked-shape mismatches")
    return 1 if bad_q or bad_shape else 0


if __name__ == "__main__":
    sys.exit(main())
