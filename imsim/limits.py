"""Limits on work and memory, checked before anything is expanded or allocated.

A hostile or mistaken input (a sweep of 10^9 points, `--gemm 100000,100000,100000`, a trace
member declaring 30000 x 30000 in a 12 MB zip) is refused with one line naming it and the
limit, and the limit can be raised:

* sweep points: MAX_POINTS combinations per spec (`imsim sweep --max-points N`);
* memory: `memory_limit()` bytes for one GEMM's working set or one array read from a file
  (`imsim --max-memory GIB ...` or the environment variable IMSIM_MAX_MEMORY_GIB, which
  sweep workers inherit). Default: the smaller of 8 GiB and half the machine's memory.
"""
from __future__ import annotations

import functools
import os

from imsim.errors import UserError, shown

MAX_POINTS = 100_000  # sweep combinations (before filters) per spec
GIB = 1 << 30
DEFAULT_MAX_MEMORY = 8 * GIB
ENV_MAX_MEMORY = "IMSIM_MAX_MEMORY_GIB"
GEMM_COPIES = 4  # int64 operand / product copies alive at once in the pipeline (quantized,
#                  unpacked, product, recombined); an estimate, not a measurement


@functools.lru_cache(maxsize=1)
def physical_memory() -> int | None:
    """Bytes of RAM of this machine (None when unknown); asked once per process."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def parse_gib(text: str, where: str) -> float:
    """A memory size in GiB from `text` (a positive number); UserError naming `where` otherwise."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e9:
        raise UserError(f"{where} = {shown(text)}: must be a positive number of GiB, e.g. 32")
    return value


def memory_limit() -> int:
    """Bytes one GEMM or one array may take: IMSIM_MAX_MEMORY_GIB, else the default."""
    text = os.environ.get(ENV_MAX_MEMORY, "").strip()
    if text:
        return int(parse_gib(text, f"environment {ENV_MAX_MEMORY}") * GIB)
    ram = physical_memory()
    return min(DEFAULT_MAX_MEMORY, ram // 2) if ram else DEFAULT_MAX_MEMORY


def set_memory_limit(gib: float) -> None:
    """Raise (or lower) the memory limit for this process and the processes it starts."""
    os.environ[ENV_MAX_MEMORY] = repr(float(gib))


def check_memory(nbytes: int, what: str) -> None:
    """UserError '<what> needs about X GiB, above the limit of Y GiB; ...' when nbytes > limit.

    `what` names the file / field / flag and the object, e.g. 'a.npz: array A (30000 x 30000 float64)'.
    """
    limit = memory_limit()
    if nbytes > limit:
        raise UserError(f"{what} needs about {nbytes / GIB:.3g} GiB of memory, above the limit of "
                        f"{limit / GIB:.3g} GiB; raise it with `imsim --max-memory GIB ...` "
                        f"(or {ENV_MAX_MEMORY}) if the machine has room")


def gemm_bytes(M: int, K: int, N: int) -> int:
    """Estimated working set of simulating one M x K x N GEMM (bytes): A, B and C as int64,
    GEMM_COPIES times."""
    return 8 * GEMM_COPIES * (M * K + K * N + M * N)


def check_gemm(M: int, K: int, N: int, where: str) -> None:
    """Refuse a GEMM whose working set exceeds the memory limit (before any allocation)."""
    check_memory(gemm_bytes(M, K, N), f"{where}: GEMM {M}x{K}x{N}")
