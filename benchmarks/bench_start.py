"""Process start: `imsim --help` against a bare `python -c "import numpy"`, run interleaved.

    python benchmarks/bench_start.py [--repeat 15]

Each round runs the baseline and the imsim command once each as fresh processes (same
interpreter, same environment, so site start-up and numpy's import are in both); the script
prints the best and the median of the per-round ratios. Target (issue 18): at most 1.5x.
Also checks that building the parser left pandas, matplotlib, simpy, pyarrow and dask unloaded.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

BASELINE = [sys.executable, "-c", "import numpy"]
COMMANDS = {
    "imsim --help": [sys.executable, "-m", "imsim", "--help"],
    "imsim run --help": [sys.executable, "-m", "imsim", "run", "--help"],
}
HEAVY = ("pandas", "matplotlib", "simpy", "pyarrow", "dask")
TARGET = 1.5


def wall(cmd: list[str]) -> tuple[float, float]:
    """(wall, CPU) time (s) of one run of `cmd`, output discarded; it must exit 0. CPU time
    (user + system of the child) is less disturbed by other processes on a shared machine."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return t1 - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def heavy_modules_after_parser() -> list[str]:
    code = ("import sys; from imsim.cli import build_parser; build_parser(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return [m for m in out.strip().split(",") if m]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15, help="interleaved rounds (default 15)")
    args = ap.parse_args()
    for cmd in [BASELINE, *COMMANDS.values()]:  # warm the file cache and .pyc files
        wall(cmd)
    runs: dict[str, list[tuple[float, float]]] = {"import numpy": [], **{name: [] for name in COMMANDS}}
    for _ in range(args.repeat):
        runs["import numpy"].append(wall(BASELINE))
        for name, cmd in COMMANDS.items():
            runs[name].append(wall(cmd))
    base = runs["import numpy"]
    print(f"{args.repeat} interleaved rounds; ratios against `python -c \"import numpy\"`")
    print(f"{'command':20s} {'wall best ms':>12s} {'wall median':>11s} {'CPU best ms':>11s} "
          f"{'wall ratio':>10s} {'median ratio':>12s} {'CPU ratio':>9s}")
    summary = {}
    for name, ts in runs.items():
        walls, cpus = [t for t, _ in ts], [c for _, c in ts]
        ratio = min(walls) / min(t for t, _ in base)
        med = statistics.median(t / b for (t, _), (b, _) in zip(ts, base))
        cpu_ratio = min(cpus) / min(c for _, c in base)
        summary[name] = (ratio, med, cpu_ratio)
        print(f"{name:20s} {min(walls) * 1e3:12.0f} {statistics.median(walls) * 1e3:11.0f} "
              f"{min(cpus) * 1e3:11.0f} {ratio:10.2f} {med:12.2f} {cpu_ratio:9.2f}")
    ratio, med, cpu_ratio = summary["imsim --help"]
    heavy = heavy_modules_after_parser()
    print(f"imsim --help / import numpy: best wall {ratio:.2f}, median {med:.2f}, best CPU {cpu_ratio:.2f} "
          f"(target <= {TARGET}: {'met' if max(ratio, cpu_ratio) <= TARGET else 'MISSED'})")
    print(f"heavy modules loaded after build_parser(): {', '.join(heavy) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
