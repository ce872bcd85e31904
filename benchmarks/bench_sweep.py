"""Sweep throughput: points per second of the local pool (1 and 2 workers) and of a Dask
cluster of 2 worker processes, with ratios against the 1-worker pool, the scaling efficiency
from 1 to 2 workers and Dask against the pool.

    python benchmarks/bench_sweep.py [SPEC.yaml] [--repeat N]

Default spec: benchmarks/sweep_1000.yaml (1,000 points). Every run starts from an empty output
folder and empty caches (in the Dask workers too), so all points (and their quantize + unpack
work and memory simulations) are computed; modules are imported once before timing. Also
reports the in-process run (workers=0). Every worker process runs BLAS on one thread
(imsim.blas), so N workers use N cores.
The Dask cluster is the one docs/sweeps.md tells users to start, on loopback: `dask scheduler`
and `dask worker --nworkers 2 --nthreads 1`, each its own process (as for `imsim sweep
--scheduler`; only the client runs in this process; the scheduler picks a free port and passes
its address to the workers and the client through a scheduler file). A new cluster each round, started and
warmed up (imports on the workers, as the forked pool has them) before its timed run, closed
before the next round; its start-up is reported separately.
CPU accounting, which load from other processes disturbs less than wall time: the parent's CPU
(dispatch, commits, tables: the part that competes with the workers on 2 cores) and the workers'
CPU (pool: the reaped worker processes; Dask: each worker process's own count, asked over the
client), both in seconds per run of the whole spec. The backends run in N interleaved rounds
(--repeat N, default 5), each round opening with the machine's own 1 -> 2 process scaling on a
pure-Python loop: the ceiling that other load leaves the sweep. Every round's times are printed;
the ratios are given two ways: best time of each backend (as timeit does), and the median of the
ratios within a round (runs a few seconds apart, so a slow spell of the host hits both alike).
Targets (issue 18): >= 1.7x from 1 to 2 workers; Dask (2 workers) within 10 % of the pool.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_START_S = 60.0  # the Dask processes must be up and registered within this


class Run(NamedTuple):
    """One timed run of the whole spec (seconds)."""

    wall: float
    parent_cpu: float  # this process: dispatch, commits, tables (and the Dask client)
    workers_cpu: float  # all worker processes together
    cluster_cpu: float = 0.0  # Dask: its scheduler process and the worker command's process (the nannies)


def clear_caches() -> None:
    """Forget prepared GEMMs and memoised models in this process (forked pool workers would
    inherit them; Dask workers run it before each timed run)."""
    from imsim import memo
    from imsim.sweep.evaluate import clear_caches

    clear_caches()
    memo.clear()


def _cpu(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def _dask_workers_cpu(address: str, clear: bool = False) -> float:
    """CPU seconds used so far by the worker processes of the Dask cluster at `address`;
    clear: also empty their caches first (they outlive a run, unlike forked pool workers)."""
    from distributed import Client

    with Client(address, timeout="20s") as client:
        if clear:
            client.run(clear_caches)
        return sum(client.run(lambda: time.process_time()).values())


def _reap_pool_workers(timeout: float = 5.0) -> None:
    """Wait (outside the timed part) until the pool's worker processes have exited and been
    reaped, so that RUSAGE_CHILDREN counts them."""
    import multiprocessing

    deadline = time.monotonic() + timeout
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.01)


def _spin(n: int) -> int:
    """Pure-Python CPU work: no I/O, no allocation to speak of."""
    s = 0
    for i in range(n):
        s += i * i % 7
    return s


def machine_scaling(n: int = 4_000_000) -> float:
    """How much more work two processes do than one in the same wall time on this machine right
    now (the same pure-Python loop: 1 process, then 2 at once): the ceiling of any 1 -> 2 worker
    speed-up here, below 2 when other load or the host takes a share of the cores."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_spin, [1000, 1000], chunksize=1)  # both workers started
        start = time.perf_counter()
        pool.apply(_spin, (n,))
        one = time.perf_counter() - start
        start = time.perf_counter()
        pool.map(_spin, [n, n], chunksize=1)
        two = time.perf_counter() - start
    return 2 * one / two


@contextlib.contextmanager
def _process(args: list[str], log: Path) -> Iterator[subprocess.Popen]:
    """A child process writing to `log`; terminated (killed after 30 s) on exit, whatever happens."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def dask_cluster(workers: int = 2) -> Iterator[tuple[str, list[int]]]:
    """A Dask cluster on loopback started as docs/sweeps.md starts one (`dask scheduler`, then
    `dask worker --nworkers N --nthreads 1`), each its own process, the scheduler on a port of
    its choosing (told through a scheduler file); yields the scheduler address and the pids of
    those two commands (the scheduler; the nannies, whose children are the worker processes) once
    all N workers have registered, and stops the processes on exit (workers first)."""
    from distributed import Client

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        file, logs = Path(tmp) / "scheduler.json", Path(tmp)
        cli = [sys.executable, "-m"]
        scheduler = stack.enter_context(_process(cli + [
            "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
            "--scheduler-file", str(file)], logs / "scheduler.log"))
        nannies = stack.enter_context(_process(cli + [
            "distributed.cli.dask_worker", "--scheduler-file", str(file), "--nworkers", str(workers),
            "--nthreads", "1", "--no-dashboard"], logs / "workers.log"))
        try:
            with Client(scheduler_file=str(file), timeout=f"{CLUSTER_START_S:g}s") as client:
                client.wait_for_workers(workers, timeout=CLUSTER_START_S)
                address = client.scheduler.address
        except Exception:
            for log in ("scheduler.log", "workers.log"):
                print(f"--- {log}:\n" + (logs / log).read_text(errors="replace")[-2000:], file=sys.stderr)
            raise
        yield address, [scheduler.pid, nannies.pid]


def _pids_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by the processes `pids` themselves (not their children)."""
    if not pids:
        return 0.0
    import psutil  # a dependency of distributed

    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)


def timed_run(spec, workers=None, scheduler=None, cluster_pids=()) -> Run:
    """One run of `spec` from an empty folder and empty caches: wall time, this process's CPU,
    the workers' CPU and that of the Dask processes `cluster_pids` (s)."""
    import resource

    from imsim.sweep import run_sweep

    clear_caches()
    dask_cpu0 = _dask_workers_cpu(scheduler, clear=True) if scheduler else 0.0
    cluster_cpu0 = _pids_cpu(list(cluster_pids))
    with tempfile.TemporaryDirectory() as tmp:
        r0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        run_sweep(spec, Path(tmp) / "out", workers=workers, scheduler=scheduler, progress=False)
        wall = time.perf_counter() - start
        r1 = resource.getrusage(resource.RUSAGE_SELF)
    _reap_pool_workers()
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = _dask_workers_cpu(scheduler) - dask_cpu0 if scheduler else _cpu(c1) - _cpu(c0)
    cluster_cpu = _pids_cpu(list(cluster_pids)) - cluster_cpu0  # (includes the CPU-count query above)
    return Run(wall, _cpu(r1) - _cpu(r0), workers_cpu, cluster_cpu)


INLINE, POOL1, POOL2, DASK = "inline (workers=0)", "pool, 1 worker", "pool, 2 workers", "dask, 2 workers"


def one_round(spec, with_dask: bool) -> tuple[dict[str, Run], float]:
    """Every backend once, one after the other; also this round's Dask start-up (s)."""
    runs = {INLINE: timed_run(spec, workers=0), POOL1: timed_run(spec, workers=1),
            POOL2: timed_run(spec, workers=2)}
    startup = 0.0
    if with_dask:
        t0 = time.perf_counter()
        with dask_cluster(2) as (address, pids):
            warm = dataclasses.replace(spec, points=spec.points[:4], hash="warm-up")
            timed_run(warm, scheduler=address)  # imports on the workers, as the forked pool has them
            startup = time.perf_counter() - t0
            runs[DASK] = timed_run(spec, scheduler=address, cluster_pids=pids)
    return runs, startup


def _verdict(value: float, target: float) -> str:
    return "met" if value >= target else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default=str(ROOT / "benchmarks" / "sweep_1000.yaml"))
    parser.add_argument("--repeat", type=int, default=5, help="rounds of runs (default 5)")
    args = parser.parse_args()

    from imsim.sweep import load_spec
    from imsim.sweep.evaluate import evaluate_points

    spec = load_spec(args.spec)
    n = len(spec.points)
    evaluate_points(spec.points[:1])  # warm-up: imports, not timed
    try:
        import distributed  # noqa: F401
        with_dask = True
    except ImportError:
        with_dask = False
        print("dask[distributed] not installed: Dask runs skipped", file=sys.stderr)
    print(f"spec {spec.name}: {n} points; {args.repeat} rounds")
    rounds: list[dict[str, Run]] = []
    ceilings, startups = [], []
    print(f"{'round':>5s} {'machine':>8s}  " + "  ".join(f"{label:>18s}" for label in (INLINE, POOL1, POOL2, DASK))
          + f"  {'pool 1->2':>9s} {'dask/pool':>9s}")
    for i in range(args.repeat):
        ceilings.append(machine_scaling())
        runs, startup = one_round(spec, with_dask)
        rounds.append(runs)
        startups += [startup] if with_dask else []
        cells = "  ".join(f"{runs[label].wall:17.2f}s" if label in runs else f"{'-':>18s}"
                          for label in (INLINE, POOL1, POOL2, DASK))
        dask_ratio = f"{runs[POOL2].wall / runs[DASK].wall:8.2f}x" if DASK in runs else f"{'-':>9s}"
        print(f"{i + 1:5d} {ceilings[-1]:7.2f}x  {cells}  {runs[POOL1].wall / runs[POOL2].wall:8.2f}x {dask_ratio}",
              flush=True)
    if startups:
        print(f"Dask cluster start-up and warm-up: {min(startups):.2f} s (not counted)")

    def best(label: str, field: str = "wall") -> float:
        return min(getattr(r[label], field) for r in rounds)

    labels = [label for label in (INLINE, POOL1, POOL2, DASK) if label in rounds[0]]
    base = best(POOL1)
    print(f"\nbest of {args.repeat} rounds:")
    print(f"{'backend':32s} {'seconds':>8s} {'points/s':>9s} {'vs pool-1':>9s} {'parent CPU s':>12s} "
          f"{'worker CPU s':>12s}")
    for label in labels:
        secs = best(label)
        print(f"{label:32s} {secs:8.2f} {n / secs:9.1f} {base / secs:9.2f}x {best(label, 'parent_cpu'):12.2f} "
              f"{best(label, 'workers_cpu'):12.2f}")
    print(f"parent process CPU (dispatch, commits, tables) in the 2-worker run: {best(POOL2, 'parent_cpu'):.2f} s, "
          f"against {base:.2f} s wall for 1 worker; on 2 cores it shares them with the workers")
    speedup = base / best(POOL2)
    median_speedup = statistics.median(r[POOL1].wall / r[POOL2].wall for r in rounds)
    print(f"pool 1 -> 2 workers: {speedup:.2f}x best of each, {median_speedup:.2f}x median of the rounds; "
          f"scaling efficiency {speedup / 2:.0%} (target >= 1.7x: {_verdict(speedup, 1.7)} / "
          f"{_verdict(median_speedup, 1.7)})")
    print(f"this machine now: 2 processes do {max(ceilings):.2f}x the work of 1 (pure-Python loop, best of "
          f"{args.repeat}; median {statistics.median(ceilings):.2f}x): the ceiling of the ratio above")
    inflation = best(POOL2, "workers_cpu") / best(POOL1, "workers_cpu")
    print(f"the 2 workers used {inflation:.2f}x the CPU of 1 for the same points (the same simulations: any "
          f"excess is the host's); at equal worker CPU the 1 -> 2 ratio would be {speedup * inflation:.2f}x")
    if DASK in labels:
        ratio = best(POOL2) / best(DASK)
        median_ratio = statistics.median(r[POOL2].wall / r[DASK].wall for r in rounds)
        print(f"dask (2 workers) / pool (2 workers) throughput: {ratio:.2f} best of each, {median_ratio:.2f} median "
              f"of the rounds (target >= 0.9: {_verdict(ratio, 0.9)} / {_verdict(median_ratio, 0.9)})")
        print(f"Dask's own processes (scheduler, nannies) used {best(DASK, 'cluster_cpu'):.2f} s of CPU in the "
              f"run (least of the rounds), on the same 2 cores as the workers")
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
