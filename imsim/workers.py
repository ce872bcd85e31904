"""Worker processes that own their cores: the set-up every imsim process pool runs in each worker.

One BLAS thread per worker (imsim.blas), so N workers use N cores; Ctrl-C goes to the parent
only (it stops the pool and reports); a worker dies with its parent (Linux PR_SET_PDEATHSIG),
so an interrupted run leaves no orphan computing on.
"""
from __future__ import annotations

import os
import signal


def worker_init() -> None:
    """Pool initializer: one BLAS thread, SIGINT ignored, die when the parent dies (Linux)."""
    from imsim.blas import limit_blas_threads

    limit_blas_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # parent already gone before prctl took effect
            os._exit(1)
    except (OSError, AttributeError):
        pass


def default_workers() -> int:
    """Worker processes by default: the cores this process may use (its CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
