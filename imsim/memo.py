"""Memoisation of the per-GEMM models whose results provably repeat within a process.

The memory simulation (imsim.memory.simulate_memory) and the area of a design are pure
functions of frozen, hashable inputs: the memory model reads only its MemoryParams (the
hardware fields it uses), the pass shapes (low-bit M, K, N and the base lines of every
pass) and the timing mode; the area reads only the HwConfig and the technology table. So a
trace whose GEMMs share a shape (the 12 attention heads of a layer, the same linear layer
in forward and backward) simulates each (params, passes, timing) once per process.

The caches are keyed on the *inputs*, never on the models' internals, and hold frozen
results (MemoryResult, AreaBreakdown), so a cached result is the very object the model
would return. `clear()` empties them (benchmarks measuring cold runs call it).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable, Sequence

MEMORY_CACHE_SIZE = 4096  # (params, passes, timing) keys: a whole captured training step needs ~100
AREA_CACHE_SIZE = 256


class _Lru:
    """A small least-recently-used map with hit/miss counters (not thread-safe: the values
    are immutable, so a race only computes a value twice)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Hashable, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        try:
            value = self.data[key]
        except KeyError:
            self.misses += 1
            value = compute()
            self.data[key] = value
            if len(self.data) > self.size:
                self.data.popitem(last=False)
            return value
        self.hits += 1
        self.data.move_to_end(key)
        return value

    def clear(self) -> None:
        self.data.clear()
        self.hits = self.misses = 0


_memory = _Lru(MEMORY_CACHE_SIZE)
_area = _Lru(AREA_CACHE_SIZE)
_tech: dict[tuple[str, str], tuple[str, int, Any]] = {}


def simulate_memory(params: Any, passes: Sequence[Any], **options: Any) -> Any:
    """imsim.memory.simulate_memory(params, passes, **options), memoised on its inputs.

    params: a frozen MemoryParams; passes: PassShape (frozen) per array pass; options: the
    keyword options (timing, max_iterations, ...), all hashable.
    """
    key = (params, tuple(passes), tuple(sorted(options.items())))

    def compute() -> Any:
        from imsim.memory import simulate_memory as simulate

        return simulate(params, passes, **options)

    return _memory.get(key, compute)


def area_of_design(hw: Any, tech: Any, **options: Any) -> Any:
    """imsim.area.area_of_design(hw, tech, **options) memoised on (hw, tech, options), all frozen
    (options: the keyword options such as the timing mode, hashable).

    The table is keyed by identity (hashing a whole table per GEMM would cost more than the
    area): load_technology returns one object per table file, and the entry keeps that
    object alive, so an id is never reused while its entry exists."""

    def compute() -> Any:
        from imsim.area import area_of_design as area

        return tech, area(hw, tech, **options)

    held, result = _area.get((hw, id(tech), tuple(sorted(options.items()))), compute)
    return result if held is tech else compute()[1]


def technology(name_or_path: str) -> Any:
    """imsim.tech.load_technology(name_or_path), without re-resolving the path per GEMM: the
    table is kept per (name, working directory) and reloaded when its file's modification
    time changes (one stat per call, as load_technology's own cache does)."""
    import os

    key = (name_or_path, os.getcwd())
    held = _tech.get(key)
    if held is not None:
        path, mtime, tech = held
        try:
            if os.stat(path).st_mtime_ns == mtime:
                return tech
        except OSError:
            pass
    from imsim.tech import load_technology

    tech = load_technology(name_or_path)
    path = tech.source_file
    _tech[key] = (path, os.stat(path).st_mtime_ns, tech)
    return tech


def stats() -> dict[str, dict[str, int]]:
    """Hits, misses and entries of each cache (for benchmarks and tests)."""
    return {name: {"hits": c.hits, "misses": c.misses, "entries": len(c.data)}
            for name, c in (("memory", _memory), ("area", _area))}


def clear() -> None:
    """Forget every memoised result (and the counters), the array model's own caches included
    (imsim.array caches mappings and compute timings per shape), so the next call runs cold."""
    import imsim.array as array

    _memory.clear()
    _area.clear()
    _tech.clear()
    for cached in (getattr(array, "_map_gemm", None), getattr(array, "_compute_timing", None)):
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()
