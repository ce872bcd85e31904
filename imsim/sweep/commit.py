"""Committing finished sweep points off the critical path.

A task's points arrive as one Batch (imsim.sweep.store.prepare_batch, built by the worker that
computed them) and are committed as one part file, written atomically and fsync-ed, which costs
milliseconds of waiting on the disk. Done on the thread that also collects results and hands out
tasks, those waits would serialise the sweep behind one process. `Committer` runs the commits on
background threads (the fsyncs release the GIL and the file system groups them); `wait()`
returns once every queued batch is on disk, and errors from a commit are raised there. Exiting
the context waits as well, so an interrupted run still keeps every point that had finished.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

COMMIT_THREADS = 4


class Committer:
    """Commits batches of finished points through `store`, advancing `bar` as they land."""

    def __init__(self, store: Any, bar: Any, threads: int = COMMIT_THREADS) -> None:
        self.store = store
        self.bar = bar
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="imsim-commit")
        self._pending: list[Future] = []

    def _one(self, batch: Any) -> None:
        self.store.commit_batch(batch)
        self.bar.update(len(batch))

    def add(self, batch: Any) -> int:
        """Queue the commit of a batch of finished points; returns how many points it holds."""
        self._pending = [f for f in self._pending if not f.done() or f.exception() is not None]
        self._pending.append(self._pool.submit(self._one, batch))
        return len(batch)

    def wait(self) -> None:
        """Block until every queued commit is done; re-raise the first error."""
        pending, self._pending = self._pending, []
        for fut in pending:
            fut.result()

    def __enter__(self) -> "Committer":
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if exc[0] is None:
                self.wait()
            else:  # keep what finished, but do not mask the original error
                for fut in self._pending:
                    fut.exception()
        finally:
            self._pool.shutdown(wait=True)
