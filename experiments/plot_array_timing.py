"""Figure for docs/model-array.md: fold timelines and utilization of the array timing model.

Left: when each fold's fill / stream / drain happens on a 4x4 array for C = A·B with
M = N = 8, K = 8 (4 folds), os and ws, in both timing modes. Right: utilization of
(M x 768)·(768 x 768) on a 32x32 array against M, per dataflow and timing mode.
Every number comes from imsim.array. Writes docs/figures/array_timing.png.

    python experiments/plot_array_timing.py [OUT.png]
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from imsim.array import DATAFLOWS, compute_timing, dataflow_module, map_gemm  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "figures" / "array_timing.png"
COLORS = {"fill": "#9ecae1", "stream": "#3182bd", "drain": "#fdae6b"}


def fold_segments(M, K, N, R, C, df, timing):
    """[(fold, start, fill, stream, drain)] in cycles, from the model's per-fold formulas."""
    mod = dataflow_module(df)
    m = map_gemm(M, K, N, R, C, df)
    T = m.temporal
    fill, drain = mod.fill_cycles(R, C), mod.drain_cycles(R, C, timing)
    period = max(T, R) if timing == "pipelined" else fill + T + drain
    return [(f, f * period, fill, T, drain) for f in range(m.folds)]


def main(out: Path = OUT) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6))
    M, K, N, R, C = 8, 8, 8, 4, 4
    y, labels = 0, []
    for df in ("os", "ws"):
        for timing in ("scalesim", "pipelined"):
            total = compute_timing(M, K, N, R, C, df, timing).cycles
            for f, start, fill, T, drain in fold_segments(M, K, N, R, C, df, timing):
                yy = y + f * 0.18
                ax1.barh(yy, fill, left=start, height=0.16, color=COLORS["fill"])
                ax1.barh(yy, T, left=start + fill, height=0.16, color=COLORS["stream"])
                if drain:
                    ax1.barh(yy, drain, left=start + fill + T, height=0.16, color=COLORS["drain"])
            ax1.plot([total, total], [y - 0.1, y + 0.7], color="k", lw=1)
            ax1.text(total + 0.5, y + 0.3, f"{total}", va="center", fontsize=8)
            labels.append((y + 0.27, f"{df} {timing}"))
            y += 1
    ax1.set_yticks([p for p, _ in labels], [t for _, t in labels])
    ax1.invert_yaxis()
    ax1.set_xlabel("cycle")
    ax1.set_title(f"folds of ({M}x{K})·({K}x{N}) on a {R}x{C} array\n"
                  "fill (light), stream (dark), drain (orange); one bar per fold")
    ax1.legend(handles=[Patch(color=c, label=n) for n, c in COLORS.items()],
               loc="lower right", fontsize=8)
    ax1.text(0.01, 0.01, "black line: reported cycles (SCALE-Sim: index of the last cycle)",
             transform=ax1.transAxes, fontsize=7)

    Ms = list(range(1, 257))
    styles = {"scalesim": "--", "pipelined": "-"}
    widths = {"os": 3.5, "ws": 2.0, "is": 1.0}  # os and is pipelined coincide here
    for df in DATAFLOWS:
        for timing in ("scalesim", "pipelined"):
            util = [compute_timing(m, 768, 768, 32, 32, df, timing).utilization for m in Ms]
            ax2.plot(Ms, util, styles[timing], label=f"{df} {timing}", lw=widths[df],
                     alpha=0.55 if df == "os" else 1.0)
    ax2.set_xlabel("M (rows of A)")
    ax2.set_ylabel("utilization = MACs / (PEs x cycles)")
    ax2.set_title("(M x 768)·(768 x 768) on a 32x32 array")
    ax2.set_ylim(0, 1.02)
    ax2.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
