"""The GEMM shapes of one captured MiniLM training step, as a small JSON file, and a synthetic
trace of the same shapes (no torch needed), the input of bench_minilm_step.py.

    python benchmarks/minilm_shapes.py extract TRACE [--out benchmarks/minilm_step_shapes.json]
    python benchmarks/minilm_shapes.py synth OUT.npz [--shapes ...json] [--seed 0]

`extract` reads a trace captured with `imsim capture minilm --out TRACE` (torch needed once,
~10 s) and stores its GEMMs in capture order, run-length encoded: [kind, phase, M, K, N, count].
`synth` writes one record per GEMM with those kinds, phases and shapes; operands are drawn as
in imsim.trace.synthetic (Gaussian bodies; activations with 0.1 % outliers 20-40 x the body).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHAPES = HERE / "minilm_step_shapes.json"


def extract(trace_path: str, out: Path = SHAPES) -> list[list]:
    """Run-length encoded [kind, phase, M, K, N, count] of a trace, in record order."""
    from imsim.trace import open_trace

    runs: list[list] = []
    for rec in open_trace(trace_path):
        key = [rec.kind, rec.phase, *map(int, rec.shape)]
        if runs and runs[-1][:5] == key:
            runs[-1][5] += 1
        else:
            runs.append([*key, 1])
    doc = {"source": "imsim capture minilm (all-MiniLM-L6-v2, 8 sentences x 16 tokens, one training step)",
           "gemms": sum(r[5] for r in runs), "runs": runs}
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    return runs


def load_runs(path: Path = SHAPES) -> list[list]:
    return json.loads(Path(path).read_text())["runs"]


def synthesize(out: str | Path, shapes: Path = SHAPES, seed: int = 0, heavy_fraction: float = 0.001) -> Path:
    """Write the synthetic trace of the step's shapes to `out` (.npz or folder); returns its path."""
    from imsim.trace import TraceWriter, make_record
    from imsim.trace.synthetic import heavy_matrix

    rng = np.random.default_rng(seed)
    with TraceWriter(out) as writer:
        index = 0
        for kind, phase, M, K, N, count in load_runs(shapes):
            for _ in range(count):
                A = heavy_matrix(rng, M, K, heavy_fraction)
                B = heavy_matrix(rng, K, N, 0.0, body_std=1.0 / np.sqrt(K))
                writer.add(make_record(A, B, name=f"{kind}{index}", kind=kind, phase=phase,
                                       model="minilm-step-synthetic", index=index))
                index += 1
    return Path(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("trace")
    e.add_argument("--out", type=Path, default=SHAPES)
    s = sub.add_parser("synth")
    s.add_argument("out")
    s.add_argument("--shapes", type=Path, default=SHAPES)
    s.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.cmd == "extract":
        runs = extract(args.trace, args.out)
        print(f"{sum(r[5] for r in runs)} GEMMs in {len(runs)} runs -> {args.out}")
    else:
        print(synthesize(args.out, args.shapes, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
