"""Committing finished sweep points off the critical path.

Each point's part file is written atomically and fsync-ed (imsim.sweep.store), which costs
milliseconds of waiting on the disk per point. Done on the thread that also collects results
and hands out tasks, those waits serialise the whole sweep behind one process, so a second
worker adds nothing. `Committer` runs the commits on a few background threads (the fsyncs
release the GIL and the file system groups them); `wait()` returns once every queued point is
on disk, and errors from a commit are raised there. Exiting the context waits as well, so an
interrupted run still keeps every point that had finished.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

COMMIT_THREADS = 4


class Committer:
    """Commits (point hash, rows) results through `store`, advancing `bar` as they land."""

    def __init__(self, store: Any, by_hash: dict[str, Any], bar: Any, threads: int = COMMIT_THREADS) -> None:
        self.store = store
        self.by_hash = by_hash
        self.bar = bar
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="imsim-commit")
        self._pending: list[Future] = []

    def _one(self, point_hash: str, rows: list[dict[str, Any]]) -> None:
        self.store.commit(self.by_hash[point_hash], rows)
        self.bar.update(1)

    def add(self, results: list[tuple[str, list[dict[str, Any]]]]) -> int:
        """Queue the commits of finished points; returns how many were queued."""
        self._pending = [f for f in self._pending if not f.done() or f.exception() is not None]
        for point_hash, rows in results:
            self._pending.append(self._pool.submit(self._one, point_hash, rows))
        return len(results)

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
