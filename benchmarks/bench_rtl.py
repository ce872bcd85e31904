"""Verification speed of the reference design on a real layer: the bundled trace's GEMM 0 (the
MiniLM query projection, 128x384x384, quantized at beta 0.99) on a 16x16 int4 array, exported,
simulated (array + recombination unit) and compared, with Icarus and, when installed, Verilator.

Prints, per dataflow and simulator, the wall time of the whole check (build + run + compare) as a
ratio to the export's time (golden vectors, the baseline in this process), and the seconds, since
the acceptance bar is "under a minute".

    python benchmarks/bench_rtl.py [--dataflows os,ws,is] [--timing pipelined]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from timing import best_of

from imsim.cli import main
from imsim.rtl.compare import compare_export, load_manifest
from imsim.rtl.runs import run_design
from imsim.rtl.simulator import simulator_missing


def main_(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataflows", default="os,ws,is")
    ap.add_argument("--timing", default="pipelined")
    args = ap.parse_args(argv)
    sims = [s for s in ("icarus", "verilator") if simulator_missing(s) is None]
    with tempfile.TemporaryDirectory() as tmp:
        for df in args.dataflows.split(","):
            out = Path(tmp) / df
            export = ["rtl", "export", "--hw", "edge_16x16_int4", "--set", f"dataflow={df}",
                      "--trace", "bundled", "--gemm-index", "0", "--beta", "0.99",
                      "--timing", args.timing, "--out", str(out), "--json"]
            t_export = best_of(lambda: main(export), 1)
            man = load_manifest(out)
            u = man["unpack"]
            print(f"{df} {args.timing}: low-bit GEMM {u['M_low']}x{u['K_low']}x{u['N_low']}, "
                  f"{man['cycles']['expected_total']} array cycles expected")
            for sim in sims:
                result = {}

                def check() -> None:
                    arr, rec = run_design(out, man, sim)
                    ok = (compare_export(out, arr.results).exact
                          and compare_export(out, rec.results, "c").exact
                          and arr.cycles == man["cycles"]["expected_total"]
                          and rec.cycles == man["cycles"]["recomb_expected"])
                    result["ok"] = ok

                t = best_of(check, 1)
                print(f"  {sim:9s} {t / t_export:8.1f}x the export time  ({t:.1f} s)  "
                      f"{'exact, cycles equal' if result['ok'] else 'MISMATCH'}")


if __name__ == "__main__":
    main_()
