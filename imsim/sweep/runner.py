"""Run the pending points of a sweep: in-process, on a local process pool, or on Dask.

Points sharing a *work key* (trace, a_bits, w_bits, beta, granularity, strategy, ...)
share the quantize + unpack of their trace, which the evaluator caches per worker process,
so each key's unpacking runs at most once per worker rather than once per hardware point.
`make_tasks` cuts the points into chunks (tasks) small enough to spread over the workers,
keeping together the points that share cached work (see there). A worker returns a finished
task as one Batch, its part file and table rows already built (`run_task`), and the store
commits it as one file, so an interruption loses at most the chunks in flight, and this
process only writes bytes and keeps the rows.
"""
from __future__ import annotations

import math
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from imsim.errors import UserError, shown
from imsim.sweep.commit import Committer
from imsim.sweep.spec import Point, SweepSpec
from imsim.sweep.store import Batch, ResultStore, Tables, prepare_batch
from imsim.workers import default_workers, worker_init

# evaluator(points) -> [(point_hash, [gemm result dict, ...]), ...]; must be picklable
Evaluator = Callable[[Sequence[Point]], list[tuple[str, list[dict[str, Any]]]]]
MAX_POOL_RESTARTS = 3
TASKS_PER_WORKER = 4
MAX_CHUNK_POINTS = 16


@dataclass(frozen=True)
class SweepReport:
    """What a run did. `seconds` is wall time of this run (s)."""

    out_dir: str
    spec_name: str
    spec_hash: str
    points_total: int
    points_already_done: int
    points_computed: int
    tasks: int
    seconds: float
    backend: str
    tables: dict[str, str]
    result_rows: int

    @property
    def points_per_second(self) -> float:
        return self.points_computed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": self.out_dir, "spec_name": self.spec_name, "spec_hash": self.spec_hash,
                "points_total": self.points_total, "points_already_done": self.points_already_done,
                "points_computed": self.points_computed, "tasks": self.tasks,
                "seconds": round(self.seconds, 3), "points_per_second": round(self.points_per_second, 3),
                "backend": self.backend, "result_rows": self.result_rows, "tables": self.tables}


def default_evaluator() -> Evaluator:
    from imsim.sweep.evaluate import evaluate_points

    return evaluate_points


def make_tasks(points: Sequence[Point], workers: int) -> list[tuple[Point, ...]]:
    """Cut points into tasks (chunks) whose points share a worker's cached work.

    Points are grouped by quantize key (trace and quantization: the integer operands), in
    first-seen order. Within a group, the points of one design (hardware config) stay
    together, across strategies and digits, so that one worker sees the design under each of
    them and reuses the memory simulations they share (imsim.memo; `auto` runs the passes of
    the strategy it picks). That needs the worker to keep every work key's unpacking cached,
    so a group with more than PREPARED_CACHE_SIZE work keys is split by work key first.
    Chunk size: about len(points) / (workers * TASKS_PER_WORKER), at least 1 and at most
    MAX_CHUNK_POINTS, so every worker gets several tasks and a crash loses little work; a
    design's points are split only when they alone exceed it.
    """
    from imsim.sweep.evaluate import PREPARED_CACHE_SIZE

    size = max(1, min(MAX_CHUNK_POINTS, math.ceil(len(points) / (max(1, workers) * TASKS_PER_WORKER))))
    tasks: list[tuple[Point, ...]] = []
    for members in _by(points, Point.quantize_key):
        if len({p.group_key() for p in members}) > PREPARED_CACHE_SIZE:
            subgroups = _by(members, Point.group_key)
        else:
            subgroups = [members]
        for sub in subgroups:
            tasks += _chunks(_by(sub, lambda p: p.hw), size)
    return tasks


def _by(points: Sequence[Point], key: Callable[[Point], Any]) -> list[list[Point]]:
    """`points` split by `key`, in first-seen order of the keys (spec order within each)."""
    out: dict[Any, list[Point]] = {}
    for p in points:
        out.setdefault(key(p), []).append(p)
    return list(out.values())


def _chunks(units: list[list[Point]], size: int) -> list[tuple[Point, ...]]:
    """Consecutive units packed into chunks of at most `size` points; a unit that alone holds
    more is cut into near-equal chunks of its own."""
    chunks: list[tuple[Point, ...]] = []
    chunk: list[Point] = []
    for unit in units:
        if chunk and len(chunk) + len(unit) > size:
            chunks.append(tuple(chunk))
            chunk = []
        if len(unit) > size:
            step = math.ceil(len(unit) / math.ceil(len(unit) / size))
            chunks += [tuple(unit[i:i + step]) for i in range(0, len(unit), step)]
        else:
            chunk += unit
    if chunk:
        chunks.append(tuple(chunk))
    return chunks


def _progress(spec: SweepSpec, done: int, enabled: bool) -> Any:
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread (the local pool forks)
    return tqdm(total=len(spec.points), initial=done, desc=spec.name, unit="pt", file=sys.stderr,
                disable=not enabled, dynamic_ncols=True, smoothing=0.05, mininterval=0.2)


def run_task(evaluator: Evaluator, points: Sequence[Point]) -> Batch:
    """What a worker runs for one task: evaluate its points, then build the part file and the
    table rows of those finished (imsim.sweep.store.prepare_batch) here rather than in the
    process that commits them."""
    by_hash = {p.hash: p for p in points}
    finished = []
    for point_hash, rows in evaluator(points):
        if point_hash not in by_hash:
            raise RuntimeError(f"the sweep evaluator returned point {point_hash!r}, which is not in its task")
        finished.append((by_hash[point_hash], rows))
    return prepare_batch(finished)


def _run_inline(tasks: list[tuple[Point, ...]], evaluator: Evaluator, committer: Committer) -> int:
    n = 0
    for task in tasks:
        n += committer.add(run_task(evaluator, task))
    return n


def _run_pool(tasks: list[tuple[Point, ...]], workers: int, evaluator: Evaluator, committer: Committer) -> int:
    import multiprocessing as mp

    n = 0
    remaining = list(tasks)
    restarts = 0
    while remaining:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"),
                                   initializer=worker_init)
        futures: dict[Future, tuple[Point, ...]] = {}
        try:
            for task in remaining:
                futures[pool.submit(run_task, evaluator, task)] = task
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    n += committer.add(fut.result())
                    remaining.remove(futures[fut])
        except BrokenProcessPool:
            restarts += 1
            if restarts > MAX_POOL_RESTARTS:
                raise RuntimeError(f"the worker pool broke {restarts} times (a worker died); "
                                   f"{committer.store.dir} keeps every finished point: re-run to resume") from None
            print(f"imsim: a sweep worker died; restarting the pool ({len(remaining)} tasks left)",
                  file=sys.stderr)
            committer.wait()
            done = committer.store.done_hashes()
            remaining = [t for t in remaining if any(p.hash not in done for p in t)]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    return n


HANDSHAKE_S = 10.0  # a Dask scheduler greets a new connection at once


def _expect_handshake(sock: Any, address: str) -> None:
    """A Dask scheduler sends its handshake as soon as a connection is accepted; something
    else listening there (a web server, a stuck process) would leave the client waiting
    forever, so it is refused here with one line."""
    sock.settimeout(HANDSHAKE_S)
    try:
        first = sock.recv(1)
    except TimeoutError:
        raise UserError(f"--scheduler {address}: something listens there but sent no Dask handshake within "
                        f"{HANDSHAKE_S:g} s; is it a Dask scheduler (dask scheduler --port ...)?") from None
    if not first:
        raise UserError(f"--scheduler {address}: the connection was closed at once; is it a Dask scheduler?")


def _check_reachable(address: str) -> None:
    """Fail fast, with one line, when nothing listens at a tcp:// scheduler address."""
    import socket
    from urllib.parse import urlsplit

    if "://" not in address:
        address = f"tcp://{address}"
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UserError(f"--scheduler {shown(address)}: not an address; expected tcp://HOST:PORT") from None
    if parts.scheme not in ("tcp", "tls"):
        return
    if not host or not port:
        raise UserError(f"--scheduler {shown(address)}: expected tcp://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            if parts.scheme == "tcp":  # (over TLS the client speaks first)
                _expect_handshake(sock, address)
    except OSError as exc:
        raise UserError(f"--scheduler {address}: cannot connect to a Dask scheduler ({exc.strerror or exc})") from None


def _run_dask(points: Sequence[Point], address: str, evaluator: Evaluator, committer: Committer) -> tuple[int, int]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise UserError("--scheduler needs Dask: pip install 'imsim[dask]' (dask[distributed])") from None
    _check_reachable(address)
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise UserError(f"--scheduler {address}: cannot connect to a Dask scheduler ({exc})") from None
    n = 0
    try:
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values())
        tasks = make_tasks(points, max(1, threads))
        futures = [client.submit(run_task, evaluator, task, pure=False) for task in tasks]
        for fut in as_completed(futures):
            n += committer.add(fut.result())
            fut.release()
    finally:
        client.close()
    return n, len(tasks)


def run_sweep(spec: SweepSpec, out_dir: str | Path, *, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True, evaluator: Evaluator | None = None) -> tuple[SweepReport, Tables]:
    """Compute every point of `spec` not yet in `out_dir`, then write the consolidated tables.

    workers: local process-pool size (default: CPU count; 0 runs in this process).
    scheduler: address of a Dask scheduler (tcp://host:port); overrides `workers`.
    evaluator: picklable point function (default: the imsim pipeline, imsim.sweep.evaluate).
    """
    if workers is not None and workers < 0:
        raise UserError(f"--workers = {workers}: must be 0 (in-process) or a positive integer")
    evaluator = evaluator or default_evaluator()
    start = time.perf_counter()
    if scheduler:
        _check_reachable(scheduler)  # before touching the output folder
    with ResultStore(out_dir, spec) as store:
        pending = store.pending()
        done_before = len(spec.points) - len(pending)
        n_workers = workers if workers is not None else default_workers()
        backend = f"dask:{scheduler}" if scheduler else ("inline" if n_workers == 0 else f"pool:{n_workers}")
        tasks = make_tasks(pending, n_workers)
        bar = _progress(spec, done_before, progress)
        computed, n_tasks = 0, len(tasks)
        try:
            with Committer(store, bar) as committer:  # commits wait here before the tables
                if not tasks:
                    computed = 0
                elif scheduler:
                    computed, n_tasks = _run_dask(pending, scheduler, evaluator, committer)
                elif n_workers == 0 or len(tasks) == 1:
                    computed = _run_inline(tasks, evaluator, committer)
                else:
                    computed = _run_pool(tasks, min(n_workers, len(tasks)), evaluator, committer)
        except KeyboardInterrupt:
            bar.close()
            done = len(spec.points) - len(store.pending())
            print(f"imsim: sweep interrupted with {done} of {len(spec.points)} points committed in {out_dir}; "
                  "re-run the same command to resume", file=sys.stderr)
            raise
        except Exception:
            bar.leave = False  # on a terminal the bar is cleared: the error line is the last word
            raise
        finally:
            bar.close()
        tables = store.consolidate()
    report = SweepReport(out_dir=str(out_dir), spec_name=spec.name, spec_hash=spec.hash,
                         points_total=len(spec.points), points_already_done=done_before,
                         points_computed=computed, tasks=n_tasks, seconds=time.perf_counter() - start,
                         backend=backend, tables=tables.paths, result_rows=len(tables.results))
    return report, tables
