"""BLAS thread pools of this process: imsim's parallelism is across processes (sweep workers),
so each process runs its BLAS calls on one thread.

On the small GEMMs of a trace a multi-threaded BLAS mostly spins and waits for its slowest
thread; with N sweep workers on N cores every extra BLAS thread oversubscribes the machine.
`limit_blas_threads()` caps every BLAS/OpenMP pool loaded in the process (threadpoolctl; it
works after numpy has loaded, so also in forked pool workers and in Dask workers) and sets the
usual environment variables for libraries and children loaded later.
"""
from __future__ import annotations

import os

THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
_limited: dict[int, int] = {}  # pid -> threads already set (forked children re-apply)
_keep: list = []  # threadpoolctl controllers (their limits hold while referenced)


def limit_blas_threads(threads: int = 1) -> None:
    """Cap this process's BLAS/OpenMP thread pools at `threads` (idempotent per process)."""
    pid = os.getpid()
    if _limited.get(pid) == threads:
        return
    for var in THREAD_ENV:
        os.environ[var] = str(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the environment still covers libraries loaded from now on
        pass
    else:
        _keep.append(threadpool_limits(limits=threads))
    _limited[pid] = threads


def blas_threads() -> list[int]:
    """Current thread count of each BLAS pool loaded in this process (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    return [int(p["num_threads"]) for p in threadpool_info() if p.get("user_api") == "blas"]
