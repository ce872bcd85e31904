"""Sweep throughput: points per second of the local pool (1 and 2 workers) and of a Dask
LocalCluster (2 worker processes on loopback), with ratios against the 1-worker pool, the
scaling efficiency from 1 to 2 workers and Dask against the pool.

    python benchmarks/bench_sweep.py [SPEC.yaml] [--repeat N]

Default spec: benchmarks/sweep_1000.yaml (1,000 points). Every run starts from an empty output
folder and empty caches (in the Dask workers too), so all points (and their quantize + unpack
work and memory simulations) are computed;
modules are imported once before timing; the Dask cluster is started before its timed run
(a new cluster each round, its start-up reported separately). Also reports the in-process run (workers=0). Every
worker process runs BLAS on one thread (imsim.blas), so N workers use N cores.
CPU accounting, which load from other processes disturbs less than wall time: the parent's CPU
(dispatch, commits, tables: the part that competes with the workers on 2 cores) and the workers'
CPU (pool: the reaped worker processes; Dask: each worker process's own count, asked over the
client), both in seconds per run of the whole spec. The backends run in N interleaved rounds
(--repeat N, default 3; best of each kept), each round opening with the machine's own 1 -> 2
process scaling on a pure-Python loop: the ceiling that other load leaves the sweep.
Targets (issue 18): >= 1.7x from 1 to 2 workers; Dask (2 workers) within 10 % of the pool.
"""
from __future__ import annotations

import argparse
import os
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def clear_caches() -> None:
    """Forget prepared GEMMs and memoised models in this process (forked pool workers would
    inherit them; Dask workers run it before each timed run)."""
    from imsim import memo
    from imsim.sweep.evaluate import clear_caches

    clear_caches()
    memo.clear()


PARENT_CPU: dict[str, float] = {}  # label -> least CPU seconds of this (parent) process in a run
WORKER_CPU: dict[str, float] = {}  # label -> least CPU seconds of all workers together in a run


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


def timed_run(spec, workers=None, scheduler=None, label="") -> float:
    """Wall seconds of one run; the parent's own CPU time (dispatch, commits, tables) goes to
    PARENT_CPU[label], the workers' to WORKER_CPU[label] (the least over repeats)."""
    import resource

    from imsim.sweep import run_sweep

    clear_caches()
    dask_cpu0 = _dask_workers_cpu(scheduler, clear=True) if scheduler else 0.0
    with tempfile.TemporaryDirectory() as tmp:
        r0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        run_sweep(spec, Path(tmp) / "out", workers=workers, scheduler=scheduler, progress=False)
        wall = time.perf_counter() - start
        r1 = resource.getrusage(resource.RUSAGE_SELF)
    _reap_pool_workers()
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = _dask_workers_cpu(scheduler) - dask_cpu0 if scheduler else _cpu(c1) - _cpu(c0)
    PARENT_CPU[label] = min(PARENT_CPU.get(label, float("inf")), _cpu(r1) - _cpu(r0))
    WORKER_CPU[label] = min(WORKER_CPU.get(label, float("inf")), workers_cpu)
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default=str(ROOT / "benchmarks" / "sweep_1000.yaml"))
    parser.add_argument("--repeat", type=int, default=3, help="rounds of runs (best time of each backend kept)")
    args = parser.parse_args()

    from imsim.sweep import load_spec

    spec = load_spec(args.spec)
    n = len(spec.points)
    from imsim.sweep.evaluate import evaluate_points

    evaluate_points(spec.points[:1])  # warm-up: imports, not timed
    print(f"spec {spec.name}: {n} points")
    results: dict[str, float] = {}
    ceiling = 0.0
    backends = [("inline (workers=0)", 0), ("pool, 1 worker", 1), ("pool, 2 workers", 2)]
    try:
        from distributed import LocalCluster
    except ImportError:
        LocalCluster = None
        print("dask[distributed] not installed: Dask run skipped", file=sys.stderr)
    dask_label = "dask LocalCluster, 2 workers"
    startup = []
    # rounds interleave the backends: load that comes and goes hits all alike; best of each kept
    for _ in range(args.repeat):
        ceiling = max(ceiling, machine_scaling())
        for label, workers in backends:
            results[label] = min(results.get(label, float("inf")), timed_run(spec, workers=workers, label=label))
        if LocalCluster is not None:
            # a cluster per round, closed before the next: its idle processes (event loops, heartbeats)
            # and the scheduler thread in this process would otherwise slow the pool runs
            t0 = time.perf_counter()
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=None) as cluster:
                warm = dataclasses.replace(spec, points=spec.points[:4], hash="warm-up")
                timed_run(warm, scheduler=cluster.scheduler_address)  # imports on the workers, as the forked pool has
                startup.append(time.perf_counter() - t0)
                results[dask_label] = min(results.get(dask_label, float("inf")),
                                          timed_run(spec, scheduler=cluster.scheduler_address, label=dask_label))
    if startup:
        print(f"Dask LocalCluster start-up and warm-up: {min(startup):.2f} s (not counted)")
    base = results["pool, 1 worker"]
    print(f"{'backend':32s} {'seconds':>8s} {'points/s':>9s} {'vs pool-1':>9s} {'parent CPU s':>12s} "
          f"{'worker CPU s':>12s}")
    for label, secs in results.items():
        print(f"{label:32s} {secs:8.2f} {n / secs:9.1f} {base / secs:9.2f}x {PARENT_CPU.get(label, 0.0):12.2f} "
              f"{WORKER_CPU.get(label, 0.0):12.2f}")
    serial = PARENT_CPU["pool, 2 workers"]
    print(f"parent process CPU (dispatch, commits, tables) in the 2-worker run: {serial:.2f} s, against "
          f"{base:.2f} s wall for 1 worker; on 2 cores it shares them with the workers")
    speedup = base / results["pool, 2 workers"]
    print(f"pool 1 -> 2 workers: {speedup:.2f}x, scaling efficiency {speedup / 2:.0%} "
          f"(target >= 1.7x: {'met' if speedup >= 1.7 else 'MISSED'})")
    print(f"this machine now: 2 processes do {ceiling:.2f}x the work of 1 (pure-Python loop, best of "
          f"{args.repeat}): the ceiling of the ratio above")
    inflation = WORKER_CPU["pool, 2 workers"] / WORKER_CPU["pool, 1 worker"]
    print(f"the 2 workers used {inflation:.2f}x the CPU of 1 for the same points (the same simulations: any "
          f"excess is the host's); at equal worker CPU the 1 -> 2 ratio would be {speedup * inflation:.2f}x")
    if dask_label in results:
        ratio = results["pool, 2 workers"] / results[dask_label]
        print(f"dask (2 workers) / pool (2 workers) throughput ratio: {ratio:.2f} "
              f"(target >= 0.9: {'met' if ratio >= 0.9 else 'MISSED'})")
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
