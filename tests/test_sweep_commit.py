"""imsim.sweep.commit: background commits land before wait() returns; errors surface there."""
from __future__ import annotations

import threading
import time

import pytest

from imsim.sweep.commit import Committer


class _Store:
    def __init__(self, fail_on=None):
        self.committed = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def commit(self, point, rows):
        time.sleep(0.01)  # a slow disk
        if point == self.fail_on:
            raise OSError("disk full")
        with self.lock:
            self.committed.append((point, rows))


class _Bar:
    def __init__(self):
        self.n = 0

    def update(self, k):
        self.n += k


def test_every_queued_point_is_committed_when_the_context_exits():
    store, bar = _Store(), _Bar()
    by_hash = {f"h{i}": f"p{i}" for i in range(20)}
    with Committer(store, by_hash, bar) as c:
        assert c.add([(f"h{i}", [{"i": i}]) for i in range(10)]) == 10
        c.add([(f"h{i}", [{"i": i}]) for i in range(10, 20)])
    assert sorted(store.committed) == sorted((f"p{i}", [{"i": i}]) for i in range(20))
    assert bar.n == 20


def test_a_failed_commit_is_raised_by_wait():
    store = _Store(fail_on="p3")
    c = Committer(store, {f"h{i}": f"p{i}" for i in range(5)}, _Bar())
    c.add([(f"h{i}", []) for i in range(5)])
    with pytest.raises(OSError, match="disk full"):
        c.wait()
    c.__exit__(None, None, None)
    assert len(store.committed) == 4


def test_an_interrupted_run_keeps_the_points_that_finished():
    store = _Store()
    with pytest.raises(KeyboardInterrupt):
        with Committer(store, {"a": "pa", "b": "pb"}, _Bar()) as c:
            c.add([("a", []), ("b", [])])
            raise KeyboardInterrupt
    assert sorted(p for p, _ in store.committed) == ["pa", "pb"]
