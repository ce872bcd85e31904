"""Worker processes that own their cores: the set-up every imsim process pool runs in each worker.

One BLAS thread per worker (imsim.blas), so N workers use N cores; Ctrl-C goes to the parent
only (it stops the pool and reports); a worker dies with its parent (Linux PR_SET_PDEATHSIG),
so an interrupted run leaves no orphan computing on. `frozen_heap` keeps the workers' garbage
collector off the pages they share with the parent. `fork_pool` is the one way imsim builds a
process pool (the sweep, `imsim run --trace`, the demo): forked workers set up by `worker_init`,
from a frozen heap, stopped at once when the block is left by an error or Ctrl-C.
"""
from __future__ import annotations

import gc
import os
import signal
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

WORKER_JOIN_S = 5.0  # how long to wait for a terminated worker to exit
_FROZEN_DEPTH = 0  # open frozen_heap blocks


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
    as usual. Blocks may nest (gc.freeze is not reentrant: only the outermost block unfreezes)."""
    global _FROZEN_DEPTH
    if _FROZEN_DEPTH == 0:
        gc.freeze()
    _FROZEN_DEPTH += 1
    try:
        yield
    finally:
        _FROZEN_DEPTH -= 1
        if _FROZEN_DEPTH == 0:
            gc.unfreeze()


@contextmanager
def fork_pool(workers: int) -> Iterator["ProcessPoolExecutor"]:
    """A pool of `workers` forked processes (concurrent.futures.ProcessPoolExecutor), each set
    up by `worker_init`. The heap stays frozen (`frozen_heap`) for the pool's life: the executor
    forks its workers at the first submit, not here. Leaving the block normally shuts the pool
    down once its workers are idle; leaving it by an exception (a worker died, Ctrl-C, the caller
    stopped reading) cancels the tasks not started and terminates the workers at once, rather
    than waiting for the tasks they are computing."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with frozen_heap():
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"),
                                   initializer=worker_init)
        try:
            yield pool
        except BaseException:  # an error, Ctrl-C, or GeneratorExit from a caller that stopped reading
            terminate_pool(pool)
            raise
        pool.shutdown(wait=True)


def terminate_pool(pool: "ProcessPoolExecutor") -> None:
    """Cancel `pool`'s pending tasks and terminate its worker processes now."""
    if hasattr(pool, "terminate_workers"):  # Python 3.14
        pool.terminate_workers()
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())  # taken before shutdown clears it
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(WORKER_JOIN_S)
