"""Plots of a sweep's results tables (matplotlib, Agg; no pyplot global state).

Kinds (`KINDS`):

* ``unpack-ratio``: bit width vs unpack ratio (MAC-weighted over GEMMs): a panel per strategy,
  a line per GEMM kind.
* ``cost``: bit width vs cycles, energy (pJ), area (um^2) and energy per useful MAC (pJ),
  one line per strategy (median over the other axes, band = min..max).
* ``pareto``: cost (``cost``: cycles, energy_pj or area_um2) against quality (``quality``: any
  error or model-metric column, default rel_error), every point coloured by bit width, with
  the Pareto front (cost minimised; errors minimised, sqnr/similarity/correlation metrics
  maximised); ``facet`` draws one panel per value of a column. Without a quality column in the
  sweep it falls back to area vs cycles and says so; ``x`` / ``y`` pick any two columns.
* ``heatmap``: unpack ratio per layer (GEMM name) and configuration (bit width, strategy).

No axis is pooled silently: `where` (KEY=VALUE conditions) selects rows first, and every title
names the conditions and each sweep axis that still varies but is not drawn (the values it
pools over).

Axes are labelled with units, a legend names every line, and an axis switches to a log
scale when its values span more than a decade.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imsim.errors import UserError, bad_value

KINDS = ("unpack-ratio", "cost", "pareto", "heatmap")
COST_CHOICES = ("cycles", "energy_pj", "area_um2")
DEFAULT_QUALITY = "rel_error"
HIGHER_IS_BETTER = ("sqnr", "cos", "similarity", "spearman", "correlation", "accuracy")
FORMATS = (".png", ".pdf", ".svg")
DECADE = 10.0
LABELS = {
    "cycles": "cycles", "energy_pj": "energy (pJ)", "area_um2": "area (um$^2$)",
    "energy_per_useful_mac_pj": "energy per useful MAC (pJ)", "unpack_ratio": "unpack ratio (MACs run / useful MACs)",
    "stall_cycles": "stall cycles", "dram_bytes": "DRAM traffic (bytes)", "sram_bytes": "SRAM traffic (bytes)",
    "utilization": "PE utilization (fraction)", "macs": "MACs run", "latency_s": "latency (s)",
    "rel_error": "relative error ||C_q - C||_F / ||C||_F", "sqnr_db": "SQNR (dB)",
    "max_abs_error": "max |C_q - C|", "rel_error_mean": "relative error (mean per GEMM)",
    "rel_error_max": "relative error (max per GEMM)",
}


def higher_is_better(column: str) -> bool:
    """Quality columns maximised (sqnr, similarities, correlations, accuracy); errors minimised."""
    return any(t in column.lower() for t in HIGHER_IS_BETTER)


def parse_where(items: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """KEY=VALUE conditions (UserError naming the bad one)."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise bad_value("command line", "--where", item, "must be KEY=VALUE, e.g. --where levels=15")
        out.append((key.strip(), value.strip()))
    return out


def _matches(col: Any, value: str) -> Any:
    """Rows of column `col` equal to the text `value` (numbers compared as numbers)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(col) or value.lower() in ("true", "false"):
        return col.astype(str).str.lower() == value.lower()
    if pd.api.types.is_numeric_dtype(col):
        try:
            return np.isclose(col.astype(float), float(value), rtol=1e-12, atol=0.0)
        except ValueError:
            return col.astype(str) == value
    if value.lower() in ("none", "null", ""):
        return col.isna() | (col.astype(str) == "")
    return col.astype(str) == value


def apply_where(df: Any, where: list[tuple[str, str]], table: str) -> Any:
    """Rows of `df` meeting every (KEY, VALUE) condition; UserError for an unknown key or no rows."""
    for key, value in where:
        if key not in df.columns:
            raise UserError(f"--where {key}={value}: {table} table has no column {key!r}; "
                            f"available: {', '.join(map(str, df.columns))}")
        df = df[_matches(df[key], value)]
    if df.empty and where:
        shown = ", ".join(f"{k}={v}" for k, v in where)
        raise UserError(f"--where {shown}: no rows of the {table} table match")
    return df


def axis_columns(df: Any) -> list[str]:
    """Sweep-axis columns (sweep fields, formats, hardware keys) that take more than one value."""
    from imsim.sweep.spec import SWEEP_FIELDS, hw_keys

    cand = [*SWEEP_FIELDS, "format_a", "format_b", *("hw_name" if k == "name" else k for k in hw_keys())]
    return [c for c in cand if c in df.columns and df[c].astype(str).nunique() > 1]


def _sort_key(v: Any) -> tuple:
    """Numbers in numeric order, then everything else as text."""
    try:
        return (0, float(v), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(v))


def pooled_note(df: Any, shown: list[str] | tuple[str, ...], verb: str = "pooled over") -> str:
    """'pooled over beta {0.99, 1.0}; levels {7, 15}' for varying axes neither drawn nor set by
    the drawn ones ('' if none)."""
    parts = []
    varying = axis_columns(df)
    keys = [c for c in shown if c in varying]
    for c in varying:
        if c in shown:
            continue
        if keys and df.groupby([df[k].astype(str) for k in keys])[c].nunique(dropna=False).max() <= 1:
            continue  # set by the drawn axes (e.g. default levels by bit width): nothing pooled
        vals = [str(v) for v in sorted(df[c].unique(), key=_sort_key)]
        parts.append(f"{c} {{{', '.join(vals[:6])}{', ...' if len(vals) > 6 else ''}}}")
    return f"{verb} " + "; ".join(parts) if parts else ""


def _title(ax_or_fig: Any, text: str, df: Any, shown: list[str] | tuple[str, ...], where: Any,
           verb: str = "pooled over") -> None:
    lines = [text]
    if where:
        lines.append("where " + ", ".join(f"{k}={v}" for k, v in where))
    note = pooled_note(df, shown, verb)
    if note:
        lines.append(note)
    setter = getattr(ax_or_fig, "suptitle", None) or ax_or_fig.set_title
    setter("\n".join(lines), fontsize="medium")


def label(column: str) -> str:
    """Axis label with units for a results column."""
    return LABELS.get(column, column.replace("_", " "))


def spans_decades(values: Any) -> bool:
    """True when positive `values` span more than a factor DECADE (use a log scale)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return v.size > 1 and v.max() / v.min() > DECADE


def _need(df: Any, columns: list[str], table: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{table} table has no column(s) {', '.join(missing)}; available: {', '.join(df.columns)}")
    if df.empty:
        raise UserError(f"{table} table is empty: nothing to plot")


def bit_axis(df: Any) -> tuple[Any, str]:
    """The bit-width values to plot on x and their label.

    a_bits when A and B widths are always equal ('bit width'), else 'a_bits/w_bits' pairs
    are ordered by a_bits then w_bits and labelled as such.
    """
    _need(df, ["a_bits", "w_bits"], "results")
    if (df["a_bits"] == df["w_bits"]).all():
        return df["a_bits"].astype(int), "operand bit width (bits, a_bits = w_bits)"
    if df["w_bits"].nunique() == 1:
        return df["a_bits"].astype(int), f"A-side bit width a_bits (bits, w_bits = {int(df['w_bits'].iloc[0])})"
    if df["a_bits"].nunique() == 1:
        return df["w_bits"].astype(int), f"B-side bit width w_bits (bits, a_bits = {int(df['a_bits'].iloc[0])})"
    return df["a_bits"] + df["w_bits"] / 100.0, "bit width a_bits.w_bits (bits)"


def _new_figure(width: float = 7.0, height: float = 4.5, nrows: int = 1, ncols: int = 1) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _integer_ticks(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _log_if_needed(ax: Any, values: Any, axis: str) -> None:
    if spans_decades(values):
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


# --------------------------------------------------------------------------------- kinds

def plot_unpack_ratio(results: Any, where: Any = ()) -> Any:
    """Bit width vs unpack ratio (sum macs / sum useful_macs): a panel per strategy, a line per GEMM kind."""
    _need(results, ["kind", "strategy", "macs", "useful_macs"], "results")
    df = results.copy()
    df["_bits"], xlabel = bit_axis(df)
    kinds = sorted(df["kind"].astype(str).unique())
    strategies = sorted(df["strategy"].astype(str).unique())
    markers = "osD^v<>px*hH+"
    colors = _colors(len(kinds))
    n = len(strategies)
    fig, axes = _new_figure(min(4.0 + 3.2 * n, 20.0), 4.8, 1, n)
    g = df.groupby([df["strategy"].astype(str), df["kind"].astype(str), "_bits"])[["macs", "useful_macs"]].sum()
    ratio_all = g["macs"] / g["useful_macs"]
    log = spans_decades(ratio_all)
    for si, strat in enumerate(strategies):
        ax = axes[0][si]
        for ki, kind in enumerate(kinds):
            if (strat, kind) not in ratio_all.index.droplevel(2):
                continue
            r = ratio_all.loc[(strat, kind)].sort_index()
            ax.plot(r.index, r.values, color=colors[ki], marker=markers[ki % len(markers)], label=kind)
        ax.axhline(1.0, color="0.6", linewidth=0.8, zorder=0)
        _integer_ticks(ax.xaxis)
        ax.set_xlabel(xlabel)
        ax.set_title(f"strategy: {strat}")
        if log:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        if si == 0:
            ax.set_ylabel(label("unpack_ratio"))
    ymax = float(np.nanmax(ratio_all.to_numpy())) if len(ratio_all) else 1.0
    for ax in axes.flat:
        ax.set_ylim(0.95 if not log else None, ymax * (1.05 if not log else 1.3))
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, title="GEMM kind", loc="outside right upper", fontsize="small")
    _title(fig, "IM-Unpack overhead by bit width, per GEMM kind and strategy", df,
           ("a_bits", "w_bits", "strategy"), where)
    return fig


COST_COLUMNS = ("cycles", "energy_pj", "area_um2", "energy_per_useful_mac_pj")


def plot_cost(totals: Any, where: Any = ()) -> Any:
    """Bit width vs cycles, energy, area, energy per useful MAC; a line per strategy (median, min..max band)."""
    _need(totals, ["strategy", *COST_COLUMNS], "totals")
    df = totals.copy()
    df["_bits"], xlabel = bit_axis(df)
    fig, axes = _new_figure(10.0, 7.0, 2, 2)
    strategies = sorted(df["strategy"].astype(str).unique())
    colors = _colors(len(strategies))
    for ax, col in zip(axes.flat, COST_COLUMNS):
        for si, strat in enumerate(strategies):
            g = df[df["strategy"].astype(str) == strat].groupby("_bits")[col]
            med, lo, hi = g.median(), g.min(), g.max()
            ax.plot(med.index, med.values, marker="o", color=colors[si], label=strat)
            if (hi > lo).any():
                ax.fill_between(med.index, lo.values, hi.values, color=colors[si], alpha=0.15, linewidth=0)
        _integer_ticks(ax.xaxis)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label(col))
        _log_if_needed(ax, df[col], "y")
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(title="strategy", fontsize="small")
    _title(fig, "Cost by bit width (median over the other axes; band: min..max)", df,
           ("a_bits", "w_bits", "strategy"), where, verb="median over")
    return fig


def pareto_front(x: Any, y: Any) -> np.ndarray:
    """Indices of the points not dominated when minimising both x and y, ordered by x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    order = np.lexsort((y, x))
    front = []
    best = np.inf
    for i in order:
        if y[i] < best:
            front.append(i)
            best = y[i]
    return np.asarray(front, dtype=int)


def plot_pareto(totals: Any, x: str | None = None, y: str | None = None, cost: str = "cycles",
                quality: str = DEFAULT_QUALITY, facet: str | None = None, where: Any = ()) -> Any:
    """Every point's cost (x) against its quality (y), coloured by bit width, with its Pareto
    front; one panel per value of `facet`. `x` / `y` override the columns (both minimised)."""
    note = ""
    if x is None and y is None:
        x, y = cost, quality
        has_quality = quality in totals.columns and totals[quality].notna().any()
        if not has_quality and quality == DEFAULT_QUALITY:
            x, y = "area_um2", "cycles"
            note = f" (no {quality} column: these points quantized no float operands)"
    x = x or "area_um2"
    y = y or "cycles"
    _need(totals, [x, y] + ([facet] if facet else []), "totals")
    df = totals.dropna(subset=[x, y])
    if df.empty:
        raise UserError(f"totals table has no points with both {x} and {y}")
    y_up = higher_is_better(y)
    panels = sorted(df[facet].astype(str).unique()) if facet else [None]
    fig, axes = _new_figure(min(4.5 + 4.0 * len(panels), 24.0), 4.8, 1, len(panels))
    color_vals, clabel = bit_axis(df) if {"a_bits", "w_bits"} <= set(df.columns) else (None, "")
    vmin, vmax = (float(np.min(color_vals)), float(np.max(color_vals))) if color_vals is not None else (None, None)
    sc = None
    for ax, panel in zip(axes[0], panels):
        sub = df if panel is None else df[df[facet].astype(str) == panel]
        cv = None if color_vals is None else color_vals.loc[sub.index]
        sc = ax.scatter(sub[x], sub[y], c=cv, cmap="viridis", vmin=vmin, vmax=vmax, s=18, alpha=0.75,
                        label="design points")
        yy = -sub[y].to_numpy(dtype=float) if y_up else sub[y].to_numpy(dtype=float)
        front = pareto_front(sub[x], yy)
        ax.step(sub[x].to_numpy()[front], sub[y].to_numpy()[front], where="post", color="crimson", linewidth=1.5,
                label=f"Pareto front ({len(front)} points)")
        ax.scatter(sub[x].to_numpy()[front], sub[y].to_numpy()[front], facecolors="none", edgecolors="crimson", s=50)
        ax.set_xlabel(label(x))
        ax.set_ylabel(label(y))
        _log_if_needed(ax, df[x], "x")
        _log_if_needed(ax, df[y], "y")
        if panel is not None:
            ax.set_title(f"{facet} = {panel}", fontsize="small")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    if color_vals is not None and sc is not None:
        cbar = fig.colorbar(sc, ax=list(axes[0]), label=clabel)
        _integer_ticks(cbar.ax.yaxis)
    better = "higher" if y_up else "lower"
    _title(fig, f"Pareto front: {label(x)} (lower is better) vs {label(y)} ({better} is better){note}", df,
           (x, y, "a_bits", "w_bits", facet or ""), where, verb="points differ in")
    return fig


def plot_heatmap(results: Any, where: Any = ()) -> Any:
    """Unpack ratio per layer (GEMM name, rows) and configuration (bit width / strategy, columns)."""
    from matplotlib.colors import LogNorm, Normalize

    _need(results, ["name", "strategy", "macs", "useful_macs", "a_bits", "w_bits"], "results")
    df = results.copy()
    df["_config"] = (df["a_bits"].astype(int).astype(str) + "/" + df["w_bits"].astype(int).astype(str) + " b "
                     + df["strategy"].astype(str))
    df["_order"] = df["a_bits"] * 1000 + df["w_bits"]
    layers = list(dict.fromkeys(df.sort_values(["gemm_index"] if "gemm_index" in df else ["name"])["name"].astype(str)))
    configs = list(dict.fromkeys(df.sort_values(["_order", "strategy"], kind="stable")["_config"]))
    g = df.groupby([df["name"].astype(str), "_config"])[["macs", "useful_macs"]].sum()
    ratio = (g["macs"] / g["useful_macs"]).unstack("_config").reindex(index=layers, columns=configs)
    values = ratio.to_numpy(dtype=float)
    height = min(30.0, max(3.5, 2.0 + 0.22 * len(layers)))
    fig, axes = _new_figure(max(7.0, 2.5 + 0.5 * len(configs)), height)
    ax = axes[0][0]
    finite = values[np.isfinite(values)]
    norm = LogNorm(vmin=max(1.0, finite.min()), vmax=max(finite.max(), 1.0 + 1e-9)) if spans_decades(finite) \
        else Normalize(vmin=min(1.0, finite.min()), vmax=max(finite.max(), 1.0 + 1e-9))
    im = ax.imshow(values, aspect="auto", cmap="magma_r", norm=norm, interpolation="nearest")
    fig.colorbar(im, ax=ax, label="unpack ratio (MACs run / useful)")
    if values.size <= 300:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize="x-small",
                        color="white" if norm(v) > 0.6 else "black")
    ax.set_xticks(range(len(configs)), configs, rotation=60, ha="right", fontsize="small")
    ax.set_yticks(range(len(layers)), layers, fontsize="x-small" if len(layers) > 30 else "small")
    ax.set_xlabel("configuration (a_bits/w_bits bits, strategy)")
    ax.set_ylabel("layer (GEMM)")
    _title(ax, "Unpack ratio per layer", df, ("a_bits", "w_bits", "strategy"), where)
    return fig


# ------------------------------------------------------------------------------- render

def check_out_path(path: str | Path) -> Path:
    """The output path, if its suffix is a supported image format (UserError otherwise)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise bad_value(None, "--out", str(path), f"must end in one of {', '.join(FORMATS)}")
    return path


def make_figure(kind: str, results: Any, totals: Any, x: str | None = None, y: str | None = None,
                cost: str = "cycles", quality: str = DEFAULT_QUALITY, facet: str | None = None,
                where: Any = ()) -> Any:
    """The figure of one plot kind from the sweep's results (per GEMM) and totals (per point)
    tables, after keeping only the rows meeting `where` ((KEY, VALUE) pairs)."""
    if kind in ("unpack-ratio", "heatmap"):
        results = apply_where(results, list(where), "results")
    else:
        totals = apply_where(totals, list(where), "totals")
    if kind == "unpack-ratio":
        return plot_unpack_ratio(results, where)
    if kind == "cost":
        return plot_cost(totals, where)
    if kind == "pareto":
        return plot_pareto(totals, x=x, y=y, cost=cost, quality=quality, facet=facet, where=where)
    if kind == "heatmap":
        return plot_heatmap(results, where)
    raise bad_value(None, "--kind", kind, f"must be one of {', '.join(KINDS)} or all")


def save_figure(fig: Any, out: str | Path, dpi: float | None = None) -> Path:
    """Save `fig` to `out` (creating its folder), close it, return the path."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def render(kind: str, results: Any, totals: Any, out: str | Path, **options: Any) -> Path:
    """Draw one kind and save it to `out` (.png, .pdf or .svg); returns the path."""
    out = check_out_path(out)
    return save_figure(make_figure(kind, results, totals, **options), out)


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(max(n, 1))]
