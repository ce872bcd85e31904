"""`imsim run --policy per-gemm`: print and save the per-GEMM policy (imsim.policy)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from imsim.cli.common import format_table, print_json
from imsim.errors import UserError

COLUMNS = ["name", "M", "K", "N", "strategy_pair", "dataflow", "k_scale", "macs", "cycles", "energy_pj",
           "objective_value", "fixed_objective_value"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """--objective, --policy and --policy-out on `imsim run`."""
    from imsim.cli.common import LazyChoices  # the policy module loads on use, not at parser build

    p.add_argument("--objective", choices=LazyChoices("imsim.policy", "OBJECTIVES"), default=None,
                   metavar="OBJECTIVE", help="%(choices)s: what `--strategy auto` (and --policy per-gemm) minimises on this array: macs "
                        "(default: the design's `objective` key, shipped as macs), cycles, energy or edp "
                        "(pJ x cycles); every candidate is simulated")
    p.add_argument("--policy", choices=("fixed", "per-gemm"), default="fixed",
                   help="per-gemm: choose for every GEMM the strategy pair, dataflow and k_scale that "
                        "minimise --objective on this array, and report the gain over the best single "
                        "fixed choice (default fixed: the design as configured)")
    p.add_argument("--policy-out", metavar="FILE.parquet", default=None,
                   help="--policy per-gemm: also write the chosen policy per GEMM to this Parquet file")


def run_policy(args: argparse.Namespace, hw, jobs) -> int:
    """Run the per-GEMM policy over `jobs` and print it (table or --json)."""
    from imsim.policy import per_gemm_policy

    objective = args.objective or hw.objective
    if args.strategy != "auto":
        raise UserError(f"--policy per-gemm chooses the strategy itself; drop --strategy {args.strategy}")
    if args.policy_out is not None and not args.policy_out.endswith(".parquet"):
        raise UserError(f"--policy-out {args.policy_out}: must end in .parquet")
    res = per_gemm_policy(hw, [(A, B, meta) for A, B, meta, *_ in jobs], objective, timing=args.timing,
                          digits=getattr(args, "digits", "signmag"))
    rows = res.rows()
    if args.policy_out is not None:
        import pandas as pd

        out = Path(args.policy_out)
        tmp = out.with_name(out.name + ".tmp")
        try:
            pd.DataFrame(rows).to_parquet(tmp, index=False, engine="pyarrow")
            os.replace(tmp, out)
        except OSError as exc:
            raise UserError(f"--policy-out {out}: cannot write ({exc.strerror})") from None
    summary = {"objective": objective, "policy_value": res.policy_value,
               "best_fixed": res.best_fixed.label, "best_fixed_value": res.best_fixed_value,
               "gain": res.gain, "candidates_simulated": res.candidates}
    if args.json:
        print_json({"hw": hw.to_dict(), "policy": rows, "summary": summary})
        return 0
    print(f"hw: {hw.name}  {hw.rows}x{hw.cols}  a_bits={hw.a_bits} w_bits={hw.w_bits}  policy=per-gemm  "
          f"objective={objective}  timing={args.timing}")
    print(format_table(rows, COLUMNS))
    print(f"per-GEMM policy: {objective} {res.policy_value:.6g}; best single fixed choice ({res.best_fixed.label}): "
          f"{res.best_fixed_value:.6g}; gain {res.gain:.4f}x ({res.candidates} candidates simulated; array, "
          f"SRAM, DRAM and technology held equal)")
    return 0
