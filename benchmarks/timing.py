"""The one timer the benchmark scripts share (they print ratios of these times, never bare times)."""
from __future__ import annotations

import time
from typing import Callable


def best_of(fn: Callable[[], object], repeat: int, number: int = 1) -> float:
    """Minimum over `repeat` rounds of the mean wall time (seconds) of `number` calls of fn."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def process_times(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of `cmd` as a fresh process, output discarded; it must
    exit 0. CPU = user + system time of the child: on a shared machine it is less disturbed by
    other processes than wall time (which also counts the time waiting for a core)."""
    import os
    import resource
    import subprocess

    # measure what an installed package gives: bytecode cached (a shell that sets
    # PYTHONDONTWRITEBYTECODE would otherwise make every process recompile imsim's sources)
    env = {k: v for k, v in (os.environ if env is None else env).items() if k != "PYTHONDONTWRITEBYTECODE"}
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return t1 - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def interleaved(commands: dict[str, list[str]], rounds: int, env: dict[str, str] | None = None
                ) -> dict[str, list[tuple[float, float]]]:
    """Run every command once per round, in turn, `rounds` times: {name: [(wall, CPU), ...]}.
    Interleaving makes all commands see the same machine load."""
    out: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, cmd in commands.items():
            out[name].append(process_times(cmd, env))
    return out


def ratio_line(name: str, runs: list[tuple[float, float]], base: list[tuple[float, float]]) -> tuple[str, float, float]:
    """A table line for `name` against `base` (same rounds): best wall, best CPU, their ratios
    and the median of the per-round wall ratios. Returns (line, best wall ratio, best CPU ratio)."""
    import statistics

    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    bw, bc = min(w for w, _ in base), min(c for _, c in base)
    med = statistics.median(w / b for (w, _), (b, _) in zip(runs, base))
    line = (f"{name:34s} {min(walls):8.3f} {statistics.median(walls):8.3f} {min(cpus):8.3f} "
            f"{min(walls) / bw:8.2f} {med:8.2f} {min(cpus) / bc:8.2f}")
    return line, min(walls) / bw, min(cpus) / bc


RATIO_HEADER = (f"{'command':34s} {'wall s':>8s} {'median':>8s} {'CPU s':>8s} "
                f"{'wall x':>8s} {'med x':>8s} {'CPU x':>8s}")


def print_ratio_table(title: str, runs: dict[str, list[tuple[float, float]]], base_name: str
                      ) -> dict[str, tuple[float, float]]:
    """Print `title`, the header and one ratio_line per command against runs[base_name];
    returns {name: (best wall ratio, best CPU ratio)}."""
    base = runs[base_name]
    print(title)
    print(RATIO_HEADER)
    out = {}
    for name, ts in runs.items():
        line, wall_x, cpu_x = ratio_line(name, ts, base)
        out[name] = (wall_x, cpu_x)
        print(line)
    return out
