"""The one timer the benchmark scripts share (they print ratios of these times, never bare times)."""
from __future__ import annotations

import time
from typing import Callable


def best_of(fn: Callable[[], object], repeat: int, number: int = 1) -> float:
    """Minimum over `repeat` rounds of the mean wall time (seconds) of `number` calls of fn."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best
