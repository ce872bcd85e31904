"""Process start: `imsim --help` against a bare `python -c "import numpy"`, run interleaved.

    python benchmarks/bench_start.py [--repeat 15]

Each round runs the baseline and the imsim command once each as fresh processes (same
interpreter, same environment, so site start-up and numpy's import are in both); the script
prints the best and the median of the per-round ratios. Target (issue 18): at most 1.5x.
Also checks that building the parser left pandas, matplotlib, simpy, pyarrow and dask unloaded.
"""
from __future__ import annotations

import argparse
import subprocess
import sys

from timing import interleaved, print_ratio_table, process_times

BASELINE = [sys.executable, "-c", "import numpy"]
COMMANDS = {
    "imsim --help": [sys.executable, "-m", "imsim", "--help"],
    "imsim run --help": [sys.executable, "-m", "imsim", "run", "--help"],
}
HEAVY = ("pandas", "matplotlib", "simpy", "pyarrow", "dask")
TARGET = 1.5


def heavy_modules_after_parser() -> list[str]:
    code = ("import sys; from imsim.cli import build_parser; build_parser(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return [m for m in out.strip().split(",") if m]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15, help="interleaved rounds (default 15)")
    args = ap.parse_args()
    commands = {"python -c 'import numpy'": BASELINE, **COMMANDS}
    for cmd in commands.values():  # warm the file cache and .pyc files
        process_times(cmd)
    runs = interleaved(commands, args.repeat)
    summary = print_ratio_table(f"{args.repeat} interleaved rounds; ratios (x) against `python -c \"import numpy\"`",
                                runs, "python -c 'import numpy'")
    ratio, cpu_ratio = summary["imsim --help"]
    heavy = heavy_modules_after_parser()
    print(f"imsim --help / import numpy: best wall {ratio:.2f}, best CPU {cpu_ratio:.2f} "
          f"(target <= {TARGET}: {'met' if max(ratio, cpu_ratio) <= TARGET else 'MISSED'})")
    print(f"heavy modules loaded after build_parser(): {', '.join(heavy) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
