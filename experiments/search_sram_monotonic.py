"""Randomized search for SRAM sizes where a bigger buffer makes a run slower (docs/model-memory.md,
"Cycles never grow with an SRAM buffer"): 150 seeded random designs and GEMMs, one buffer swept
over 1..128 KiB (the other two at 16 KiB); prints every neighbouring pair whose cycles grow and
the count. Takes about a minute.

    python experiments/search_sram_monotonic.py
"""
from __future__ import annotations

import random

from imsim.errors import UserError
from imsim.hwconfig import HwConfig
from imsim.memory import MemoryParams, PassShape, simulate_memory

SIZES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)


def main() -> int:
    rng = random.Random(1)
    bad = pairs = 0
    for _ in range(150):
        M, K, N = (rng.randint(1, 600) for _ in range(3))
        df = rng.choice(("os", "ws", "is"))
        buf = rng.choice("abc")
        R = rng.choice((8, 16, 32))
        bw = rng.choice((4, 16, 32, 64))
        lat = rng.choice((0, 100, 400))
        prev = None
        for kib in SIZES:
            hw = HwConfig(rows=R, cols=R, dataflow=df, dram_bw_bytes_per_cycle=bw, dram_latency_cycles=lat,
                          **{f"sram_{x}_kib": (kib if x == buf else 16) for x in "abc"})
            try:
                r = simulate_memory(MemoryParams.from_hw(hw), [PassShape(M, K, N, M, N)])
            except UserError:
                prev = None
                continue
            if prev is not None:
                pairs += 1
                if r.cycles > prev[1]:
                    bad += 1
                    print(f"{M}x{K}x{N} {df} sram_{buf}_kib {prev[0]} -> {kib}: {prev[1]} -> {r.cycles} cycles "
                          f"(+{(r.cycles / prev[1] - 1) * 100:.2f} %), {R}x{R}, {bw} B/cycle, latency {lat}")
            prev = (kib, r.cycles)
    print(f"{bad} of {pairs} neighbouring size pairs grow")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
