"""imsim.sweep.commit: background commits land before wait() returns; errors surface there."""
from __future__ import annotations

import threading
import time

import pytest

from imsim.sweep.commit import Committer
from imsim.sweep.store import Batch


class _Store:
    def __init__(self, fail_on=None):
        self.committed = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def commit_batch(self, batch):
        time.sleep(0.01)  # a slow disk
        if self.fail_on in batch.hashes:
            raise OSError("disk full")
        with self.lock:
            self.committed.extend(batch.hashes)


class _Bar:
    def __init__(self):
        self.n = 0

    def update(self, k):
        self.n += k


def _batch(*hashes):
    return Batch(hashes=tuple(hashes), part=b"", tables=tuple(([], {}) for _ in hashes))


def test_every_queued_batch_is_committed_when_the_context_exits():
    store, bar = _Store(), _Bar()
    with Committer(store, bar) as c:
        for i in range(0, 20, 4):
            assert c.add(_batch(*(f"h{j}" for j in range(i, i + 4)))) == 4
    assert sorted(store.committed) == sorted(f"h{i}" for i in range(20))
    assert bar.n == 20


def test_a_failed_commit_is_raised_by_wait():
    store = _Store(fail_on="h3")
    c = Committer(store, _Bar())
    for i in range(5):
        c.add(_batch(f"h{i}"))
    with pytest.raises(OSError, match="disk full"):
        c.wait()
    c.__exit__(None, None, None)
    assert len(store.committed) == 4


def test_an_interrupted_run_keeps_the_points_that_finished():
    store = _Store()
    with pytest.raises(KeyboardInterrupt):
        with Committer(store, _Bar()) as c:
            c.add(_batch("a", "b"))
            c.add(_batch("c"))
            raise KeyboardInterrupt
    assert sorted(store.committed) == ["a", "b", "c"]
