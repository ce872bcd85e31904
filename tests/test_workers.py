"""imsim.workers: the set-up shared by imsim's process pools."""
from __future__ import annotations

import gc
import os
import signal
import time

import pytest

from imsim.workers import default_workers, fork_pool, frozen_heap


def test_frozen_heap_freezes_the_parents_objects_only_inside_the_block():
    before = gc.get_freeze_count()
    kept = [object() for _ in range(10)]
    with frozen_heap():
        assert gc.get_freeze_count() >= before + len(kept)
    assert gc.get_freeze_count() == 0
    del kept


def test_frozen_heap_unfreezes_after_an_error():
    try:
        with frozen_heap():
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.get_freeze_count() == 0


def test_default_workers_is_at_least_one():
    assert default_workers() >= 1


def _freeze_count_and_sigint() -> tuple[int, bool]:
    return gc.get_freeze_count(), signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_fork_pool_forks_set_up_workers_from_a_frozen_heap():
    """The workers fork at the first submit, inside the pool's block: they start with the
    parent's objects frozen, and run worker_init (SIGINT ignored); the parent is unfrozen after."""
    with fork_pool(2) as pool:
        frozen, ignores_sigint = pool.submit(_freeze_count_and_sigint).result()
        assert frozen > 0 and ignores_sigint
        procs = list(pool._processes.values())
    assert gc.get_freeze_count() == 0
    assert procs and _exit_codes(procs) == [0] * len(procs)  # shut down, not killed, on a normal exit


def _exit_codes(procs, timeout: float = 10.0) -> list:
    """The exit codes of `procs` once known (the pool's own thread may be reaping them)."""
    deadline = time.monotonic() + timeout
    while any(p.exitcode is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [p.exitcode for p in procs]


def _sleep_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_fork_pool_terminates_busy_workers_when_left_by_an_error():
    """Leaving by an exception (as Ctrl-C does) does not wait for the task a worker computes."""
    start = time.monotonic()
    with pytest.raises(KeyError):
        with fork_pool(1) as pool:
            assert pool.submit(_sleep_then_pid, 0).result() > 0  # the worker is up
            pool.submit(_sleep_then_pid, 60)
            procs = list(pool._processes.values())
            raise KeyError("stop")
    assert _exit_codes(procs) == [-signal.SIGTERM]
    assert time.monotonic() - start < 30  # the 60 s task was not waited for
    assert gc.get_freeze_count() == 0
