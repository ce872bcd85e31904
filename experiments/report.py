"""Turn a finished sweep folder into the markdown tables that docs/studies.md quotes.

    python experiments/report.py unpack-overhead DIR [--out FILE.md] [--figure FILE.png]
    python experiments/report.py equal-quality DIR [--out FILE.md] [--figure FILE.png]

Every table is computed from DIR/results.parquet and DIR/totals.parquet (written by `imsim sweep`)
and headed by the inputs stated in DIR/manifest.json (spec, trace, imsim version). Unpack
ratios over a group of GEMMs are MAC-weighted: sum of low-bit MACs / sum of useful MACs (M*K*N).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        if v != v:  # NaN
            return "-"
        if abs(v) >= 1e5 and v.is_integer() and abs(v) < 1e12:
            return f"{int(v):,}"
        if abs(v) >= 1e5:
            return f"{v:.3e}"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.1f}"
    if hasattr(v, "item"):
        return _fmt(v.item())
    return str(v)


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats with 3 significant digits (large values grouped or in e-notation)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def emit(text: str, out: str | None) -> None:
    """Print a report and, if `out` is given, write it there too (folders created)."""
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")


def inputs_line(folder: Path, tables: Any) -> str:
    """One line naming what produced the tables: spec, trace(s), imsim version, points."""
    manifest = json.loads((folder / "manifest.json").read_text())
    traces = sorted(set(map(str, tables.totals["trace"]))) if "trace" in tables.totals else []
    return (f"Inputs: spec `{Path(manifest.get('spec_source', '?')).name}` "
            f"(hash {manifest.get('spec_hash', '?')}, {len(manifest.get('points', []))} points), "
            f"trace {', '.join(traces) or '?'}, imsim {manifest.get('imsim_version', '?')}; "
            "RTN quantization is deterministic (no seed involved).")


def executed(folder: Path) -> bool:
    """Whether the sweep ran exact execution (spec key `execute`); `exact` is meaningless otherwise."""
    manifest = json.loads((folder / "manifest.json").read_text())
    return bool(manifest.get("spec", {}).get("execute", True))


def _load(folder: str) -> tuple[Path, Any]:
    from imsim.sweep.store import load_tables

    path = Path(folder)
    return path, load_tables(path)


def _ratio(df: Any) -> float:
    useful = float(df["useful_macs"].sum())
    return float(df["macs"].sum()) / useful if useful else float("nan")


# ------------------------------------------------------------------------------ study 1
def report_unpack_overhead(folder: str) -> str:
    """Unpack ratio (MAC-weighted) by bits x strategy x beta (whole trace), by kind, by strategy."""
    path, t = _load(folder)
    res = t.results
    bits = sorted(int(b) for b in res["a_bits"].unique())
    strategies = [s for s in ("row", "col", "both", "auto") if s in set(res["strategy"])]
    betas = sorted(float(b) for b in res["beta"].unique())
    out = ["### Unpack ratio of the whole trace (fwd + bwd), by bits", "", inputs_line(path, t), ""]
    rows = []
    for s in strategies:
        for beta in betas:
            sel = res[(res["strategy"] == s) & (res["beta"] == beta)]
            rows.append([s, beta] + [_ratio(sel[sel["a_bits"] == b]) for b in bits])
    out += [md_table(["strategy", "beta"] + [f"b={b}" for b in bits], rows), ""]
    ref_beta = 0.99 if 0.99 in betas else betas[0]
    groups = sorted({(str(p), str(k)) for p, k in zip(res["phase"], res["kind"])})
    for s in ("auto",) if "auto" in strategies else strategies[:1]:
        out += [f"### Unpack ratio by GEMM kind (strategy {s}, beta {ref_beta})", ""]
        rows = []
        for phase, kind in groups:
            sel = res[(res["strategy"] == s) & (res["beta"] == ref_beta) & (res["phase"] == phase)
                      & (res["kind"] == kind)]
            n = int(len(sel) / max(1, len(bits)))
            rows.append([phase, kind, n] + [_ratio(sel[sel["a_bits"] == b]) for b in bits])
        out += [md_table(["phase", "kind", "GEMMs"] + [f"b={b}" for b in bits], rows), ""]
    ref_bits = 4 if 4 in bits else bits[0]
    out += [f"### Unpack ratio by GEMM kind and strategy (b = {ref_bits}, beta {ref_beta})", ""]
    rows = []
    for phase, kind in groups:
        sel = res[(res["a_bits"] == ref_bits) & (res["beta"] == ref_beta) & (res["phase"] == phase)
                  & (res["kind"] == kind)]
        rows.append([phase, kind] + [_ratio(sel[sel["strategy"] == s]) for s in strategies])
    out += [md_table(["phase", "kind"] + strategies, rows), ""]
    return "\n".join(out)


def figure_unpack_overhead(folder: str, out_file: str) -> Path:
    """Left: whole-trace unpack ratio vs bits, one line per (strategy, beta). Right: per (phase,
    kind) at strategy auto, beta 0.99. MAC-weighted ratios, as in the tables."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imsim.plot import save_figure

    _, t = _load(folder)
    res = t.results
    bits = sorted(int(b) for b in res["a_bits"].unique())
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {0.95: "-", 0.99: "--", 0.999: ":", 1.0: "-."}
    colors = {"row": "tab:orange", "col": "tab:green", "both": "tab:red", "auto": "tab:purple"}
    for s in ("row", "col", "both", "auto"):
        for beta in sorted(float(b) for b in res["beta"].unique()):
            sel = res[(res["strategy"] == s) & (res["beta"] == beta)]
            if len(sel) and beta < 1.0:
                ax1.plot(bits, [_ratio(sel[sel["a_bits"] == b]) for b in bits], styles.get(beta, "-"),
                         color=colors[s], marker="o", markersize=3, label=f"{s}, beta {beta}")
    ax1.set_title("whole trace (fwd + bwd); beta 1.0 gives 1.0 everywhere")
    ax1.set_xlabel("operand bits b (a_bits = w_bits)")
    ax1.set_ylabel("unpack ratio (MACs run / useful MACs)")
    ax1.legend(fontsize=7, ncol=2)
    ax1.grid(True, alpha=0.3)
    sel = res[(res["strategy"] == "auto") & (res["beta"] == 0.99)]
    for (phase, kind), grp in sel.groupby(["phase", "kind"]):
        ax2.plot(bits, [_ratio(grp[grp["a_bits"] == b]) for b in bits], marker="o", markersize=3,
                 linestyle="-" if phase == "fwd" else "--", label=f"{phase} {kind}")
    ax2.set_title("by GEMM kind (strategy auto, beta 0.99)")
    ax2.set_xlabel("operand bits b (a_bits = w_bits)")
    ax2.set_ylabel("unpack ratio (MACs run / useful MACs)")
    ax2.legend(fontsize=7)
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, out_file, dpi=110)


# ------------------------------------------------------------------------------ equal quality
QUALITY_COLUMNS = ("minilm_cos_mean", "minilm_cos_min", "minilm_spearman")


def _eq_rows(tot: Any, ran: bool) -> tuple[list[list[Any]], dict[int, Any]]:
    rows, refs = [], {}
    for d in sorted(tot["levels"].unique()):
        sel = tot[tot["levels"] == d].sort_values("a_bits", kind="stable")
        ref = sel[sel["a_bits"] == 8].iloc[0]
        refs[int(d)] = ref
        for _, r in sel.iterrows():
            rows.append([int(d), f"int{int(r['a_bits'])}", f"{int(r['rows'])}x{int(r['cols'])}",
                         float(r["area_um2"]) / float(ref["area_um2"]), float(r["unpack_ratio"]),
                         float(r["cycles"]), float(r["cycles"]) / float(ref["cycles"]),
                         float(r["stall_cycles"]) / float(r["cycles"]),
                         float(r["energy_pj"]), float(r["energy_pj"]) / float(ref["energy_pj"]),
                         float(r["dram_bytes"]) / float(ref["dram_bytes"]),
                         float(r["rel_error"]), float(r["rel_error_max"])]
                        + [f"{float(r[c]):.4f}" for c in QUALITY_COLUMNS]
                        + [bool(r["exact"]) if ran else "not run"])
    return rows, refs


def report_equal_quality(folder: str) -> str:
    """Equal-area b-bit arrays at one quantization (paper quantizer, beta, d): cost vs the int8
    array at the same d, with the per-GEMM error and MiniLM's quality (identical across b)."""
    path, t = _load(folder)
    tot = t.totals
    ran = executed(path)
    rows, _ = _eq_rows(tot, ran)
    header = ["d", "operands", "array", "area vs int8", "unpack ratio", "cycles", "cycles vs int8", "stall share",
              "energy (pJ)", "energy vs int8", "DRAM bytes vs int8", "rel_error (pooled)", "rel_error (worst GEMM)",
              "MiniLM cos mean", "MiniLM cos min", "MiniLM Spearman", "exact"]
    return "\n".join([
        "### Equal area, equal quality: b-bit arrays vs the int8 array (whole trace, fwd + bwd)", "",
        inputs_line(path, t), "",
        "Per d, every row has the same quantization (paper quantizer, beta "
        f"{', '.join(map(str, sorted(set(map(float, tot['beta'])))))}, d levels for A and B), so the error and "
        "MiniLM columns are identical across b by construction; `vs int8` divides by the int8 32x32 array at "
        "the same d (which also unpacks: see the text). `rel_error (pooled)`: sqrt(sum of squared errors / sum "
        "of squared reference entries) over all GEMMs; `stall share`: stall_cycles / cycles.", "",
        md_table(header, rows), ""])


def figure_equal_quality(folder: str, out_file: str) -> Path:
    """Cycles and energy vs operand bits at equal area, one line per d, relative to int8 at that d."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imsim.plot import save_figure

    path, t = _load(folder)
    tot = t.totals
    rows, _ = _eq_rows(tot, executed(path))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for d in sorted({r[0] for r in rows}):
        sel = [r for r in rows if r[0] == d]
        bits = [int(r[1][3:]) for r in sel]
        lab = f"d = {d}: MiniLM cos {sel[0][13]}, Spearman {sel[0][15]}"
        axes[0].plot(bits, [r[4] for r in sel], marker="o", label=lab)
        axes[1].plot(bits, [r[6] for r in sel], marker="o", label=lab)
        axes[2].plot(bits, [r[9] for r in sel], marker="o", label=lab)
    for ax, lab in zip(axes, ("unpack ratio (MACs run / useful MACs)", "cycles vs int8 (same d)",
                              "energy vs int8 (same d)")):
        ax.set_xlabel("MAC width b (a_bits = w_bits)")
        ax.set_ylabel(lab)
        ax.set_xticks(sorted({int(r[1][3:]) for r in rows}))
        ax.grid(True, alpha=0.3)
    axes[1].axhline(1.0, color="grey", lw=0.8)
    axes[2].axhline(1.0, color="grey", lw=0.8)
    axes[0].legend(fontsize=8)
    beta = ", ".join(map(str, sorted(set(map(float, tot["beta"])))))
    fig.suptitle(f"Equal area (int8 32x32 budget), equal quantization (paper quantizer, beta {beta}), strategy auto, "
                 "bundled MiniLM trace", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_file, dpi=110)


def report_zoo_cost(folder: str) -> str:
    """Equal-area designs at one quantization on several traces: cost vs the int8 array per trace."""
    path, t = _load(folder)
    tot = t.totals
    rows = []
    for trace in list(dict.fromkeys(map(str, tot["trace"]))):
        sel = tot[tot["trace"] == trace].sort_values("a_bits", kind="stable")
        ref = sel[sel["a_bits"] == 8].iloc[0]
        for _, r in sel.iterrows():
            rows.append([trace, f"int{int(r['a_bits'])}", f"{int(r['rows'])}x{int(r['cols'])}",
                         float(r["useful_macs"]), float(r["unpack_ratio"]), float(r["cycles"]) / float(ref["cycles"]),
                         float(r["energy_pj"]) / float(ref["energy_pj"]), float(r["stall_cycles"]) / float(r["cycles"]),
                         float(r["rel_error"])])
    header = ["trace", "operands", "array", "useful MACs", "unpack ratio", "cycles vs int8", "energy vs int8",
              "stall share", "rel_error (pooled)"]
    d = ", ".join(str(int(x)) for x in sorted(set(tot["levels"])))
    return "\n".join([f"### Equal-area designs on the zoo (paper quantizer, beta 0.99, d = {d}, strategy auto)", "",
                      inputs_line(path, t), "", "`vs int8`: divided by the int8 32x32 array on the same trace.", "",
                      md_table(header, rows), ""])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    for name in ("unpack-overhead", "equal-quality", "zoo-cost"):
        p = sub.add_parser(name)
        p.add_argument("dir")
        p.add_argument("--out", default=None, help="write the markdown here as well as to stdout")
        if name in ("unpack-overhead", "equal-quality"):
            p.add_argument("--figure", default=None, help="also draw the study's figure (PNG/PDF/SVG)")
    args = ap.parse_args(argv)
    fn = {"unpack-overhead": report_unpack_overhead, "equal-quality": report_equal_quality,
          "zoo-cost": report_zoo_cost}[args.what]
    text = fn(args.dir)
    if getattr(args, "figure", None):
        {"unpack-overhead": figure_unpack_overhead, "equal-quality": figure_equal_quality}[args.what](
            args.dir, args.figure)
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    from imsim.errors import UserError

    try:
        sys.exit(main())
    except UserError as exc:
        print(f"report.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
