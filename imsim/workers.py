"""Worker processes that own their cores: the set-up every imsim process pool runs in each worker.

One BLAS thread per worker (imsim.blas), so N workers use N cores; Ctrl-C goes to the parent
only (it stops the pool and reports); a worker dies with its parent (Linux PR_SET_PDEATHSIG),
so an interrupted run leaves no orphan computing on. `frozen_heap` keeps the workers' garbage
collector off the pages they share with the parent.
"""
from __future__ import annotations

import gc
import os
import signal
from contextlib import contextmanager
from typing import Iterator


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


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Fork workers inside this block: the parent's objects move to the collector's permanent
    generation (gc.freeze) until it ends, so a worker's garbage collections do not write to
    them, and the pages the fork shares are not copied into every worker (copy-on-write); the
    Python documentation recommends this for forked workers. Objects made later are collected
    as usual."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
