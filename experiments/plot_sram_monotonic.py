"""Figure and table for docs/model-memory.md: cycles against each SRAM buffer's size.

Sweeps one buffer at a time over 4..256 KiB (the other two at 32 KiB) on the default design
(32x32, int8, 32 B/cycle DRAM, 100-cycle latency) for (512 x 768)·(768 x 3072), in os, ws and
is (the grid and first shape of tests/test_memory.py::test_cycles_never_increase_when_a_buffer_grows); every number comes from
imsim.memory.simulate_memory. Writes docs/figures/sram_monotonic.png and prints a markdown table.

    python experiments/plot_sram_monotonic.py [OUT.png]
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from imsim.errors import UserError  # noqa: E402
from imsim.hwconfig import HwConfig  # noqa: E402
from imsim.memory import MemoryParams, PassShape, simulate_memory  # noqa: E402
from imsim.plot import save_figure  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "figures" / "sram_monotonic.png"
SIZES = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
SHAPE = (512, 768, 3072)
OTHERS_KIB = 32  # the two buffers not swept (as in tests/test_memory.py)


def sweep() -> dict:
    """{(dataflow, buffer): [(KiB, cycles) or (KiB, None) when refused]}."""
    out = {}
    for df in ("os", "ws", "is"):
        for buf in "abc":
            pts = []
            for kib in SIZES:
                hw = HwConfig(dataflow=df, **{f"sram_{x}_kib": (kib if x == buf else OTHERS_KIB) for x in "abc"})
                try:
                    r = simulate_memory(MemoryParams.from_hw(hw), [PassShape(*SHAPE, SHAPE[0], SHAPE[2])])
                    pts.append((kib, r.cycles))
                except UserError:
                    pts.append((kib, None))
            out[(df, buf)] = pts
    return out


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else OUT
    data = sweep()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=False)
    for ax, df in zip(axes, ("os", "ws", "is")):
        for buf in "abc":
            pts = [(k, c) for k, c in data[(df, buf)] if c is not None]
            ax.plot([k for k, _ in pts], [c for _, c in pts], marker="o", label=f"sram_{buf}_kib")
        ax.set_xscale("log", base=2)
        ax.set_title(f"{df}: (512x768)·(768x3072), 32x32 int8")
        ax.set_xlabel(f"buffer size (KiB), other two at {OTHERS_KIB}")
        ax.set_ylabel("cycles")
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out, dpi=110)
    print("| dataflow | buffer | " + " | ".join(f"{k} KiB" for k in SIZES) + " |")
    print("|---|---|" + "--:|" * len(SIZES))
    for (df, buf), pts in data.items():
        print(f"| {df} | {buf} | " + " | ".join("-" if c is None else f"{c:,}" for _, c in pts) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
