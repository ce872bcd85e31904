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


def _worker_state() -> tuple[int, bool, int]:
    """(frozen objects, SIGINT ignored, parent-death signal) of this process."""
    import ctypes

    sig = ctypes.c_int(0)
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(2, ctypes.byref(sig))  # PR_GET_PDEATHSIG
    return gc.get_freeze_count(), signal.getsignal(signal.SIGINT) is signal.SIG_IGN, sig.value


@pytest.mark.timeout(120)
def test_fork_pool_forks_set_up_workers_from_a_frozen_heap():
    """The workers fork at the first submit, inside the pool's block: they start with the
    parent's objects frozen, and run worker_init (SIGINT ignored, killed with their parent);
    the parent is unfrozen after."""
    with fork_pool(2) as pool:
        frozen, ignores_sigint, death_signal = pool.submit(_worker_state).result()
        assert frozen > 0 and ignores_sigint and death_signal == signal.SIGKILL
        procs = list(pool._processes.values())
    assert gc.get_freeze_count() == 0
    assert procs and _exit_codes(procs) == [0] * len(procs)  # shut down, not killed, on a normal exit


def test_frozen_heap_blocks_nest():
    with frozen_heap():
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > 0  # the inner block left the outer one frozen
    assert gc.get_freeze_count() == 0


def _exit_codes(procs, timeout: float = 10.0) -> list:
    """The exit codes of `procs` once known (the pool's own thread may be reaping them)."""
    deadline = time.monotonic() + timeout
    while any(p.exitcode is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [p.exitcode for p in procs]


def _mark_then_sleep(marker: str, seconds: float) -> int:
    open(marker, "w").close()
    time.sleep(seconds)
    return os.getpid()


@pytest.mark.timeout(120)
def test_fork_pool_terminates_busy_workers_when_left_by_an_error(tmp_path):
    """Leaving by an exception (as Ctrl-C does) does not wait for the task a worker computes."""
    marker = tmp_path / "running"
    start = time.monotonic()
    with pytest.raises(KeyError):
        with fork_pool(1) as pool:
            pool.submit(_mark_then_sleep, str(marker), 60)
            while not marker.exists():  # the worker is inside the 60 s task
                time.sleep(0.01)
            procs = list(pool._processes.values())
            raise KeyError("stop")
    assert _exit_codes(procs) == [-signal.SIGTERM]
    assert time.monotonic() - start < 30  # the 60 s task was not waited for
    assert gc.get_freeze_count() == 0
