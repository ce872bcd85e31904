"""MAC / PE energy and area vs operand bit width from imsim's technology tables.

Writes docs/figures/mac_cost_vs_bits.png and prints (markdown) the fitted parameters, a table of
MAC costs by width, and the cross-check against Bit Fusion's synthesized fixed-precision PEs
(Sharma et al., ISCA 2018, 45 nm, 500 MHz, per PE of a 4x4 array). docs/model-energy-area.md
pastes this output.

    python experiments/plot_mac_cost.py [--tech 45nm] [--entries] [--out docs/figures/mac_cost_vs_bits.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from imsim.area import (add_area_um2, area_of_design, equal_area_array, mac_area_um2, mult_area_um2,  # noqa: E402
                        pe_area_um2, pe_register_bits)
from imsim.hwconfig import HwConfig  # noqa: E402
from imsim.energy import add_energy_pj, mac_energy_pj, mult_energy_pj  # noqa: E402
from imsim.tech import load_technology  # noqa: E402

# Bit Fusion (Sharma et al., ISCA 2018), fixed-precision PEs of a 4x4 array, 45 nm, 500 MHz:
# bits -> (area um^2 per PE, energy pJ per cycle per PE)
BIT_FUSION = {2: (81.0, 0.044), 4: (192.0, 0.093), 8: (511.0, 0.236), 16: (1679.0, 0.717)}

ROOT = Path(__file__).resolve().parents[1]


def fig_acc(bits: int) -> int:
    """Accumulator width drawn in the figure: the product width 2b (no headroom)."""
    return 2 * bits


def acc_for(bits: int, headroom: int) -> int:
    """Accumulator assumed for a b-bit PE in the cross-check: product width 2b plus headroom bits."""
    return 2 * bits + headroom


def pe_energy_per_cycle_pj(tech, bits: int, acc: int) -> float:
    """A fully busy PE per cycle: one MAC, its registers written and clocked once."""
    reg = pe_register_bits(bits, bits, acc)
    return mac_energy_pj(tech, bits, bits, acc) + reg * (tech["reg_bit_write_energy"] + tech["reg_bit_clock_energy"])


def print_entries(tech) -> None:
    print(f"### Table {tech.name} ({Path(tech.source_file).name}), values in base units\n")
    print("| entry | value | unit | label |\n|---|---|---|---|")
    for e in tech.entries:
        print(f"| {e.key} | {e.value:.6g} | {e.unit} | {e.label} |")
    print()


def print_equal_area(tech) -> None:
    print(f"### Equal-area arrays ({tech.name}; reference: default HwConfig, 32x32 int8, acc 32)\n")
    print("| k_scale | PE widths | acc bits | rows x cols | PEs vs reference | area_um2 |")
    print("|---|---|---|---|---|---|")
    for k_scale in ("shift_accumulate", "scale_passes"):
        ref = HwConfig(k_scale=k_scale, technology=tech.name)
        for a, w, acc in ((8, 8, 32), (4, 4, 32), (4, 4, 16), (2, 2, 16)):
            n, m = equal_area_array(ref, a, w, tech, acc_bits=acc)
            hw = ref.replace(rows=n, cols=m, a_bits=a, w_bits=w, acc_bits=acc)
            print(f"| {k_scale} | {a}x{w} | {acc} | {n}x{m} | {n * m / (ref.rows * ref.cols):.2f} | "
                  f"{area_of_design(hw, tech).area_um2:.0f} (ref {area_of_design(ref, tech).area_um2:.0f}) |")
    print()


def print_fits(tech) -> None:
    k, q = tech.sram_energy_fit
    print(f"### Fitted parameters ({tech.name})\n")
    print("| parameter | value |\n|---|---|")
    print(f"| multiplier energy exponent p_E (square widths, E ~ b^p_E) | {2 * tech.mult_energy_exponent:.3f} |")
    print(f"| multiplier area exponent p_A (square widths) | {2 * tech.mult_area_exponent:.3f} |")
    print(f"| adder energy per bit alpha_E | {tech.add_energy_per_bit_pj:.5f} pJ/bit |")
    print(f"| adder area per bit alpha_A | {tech.add_area_per_bit_um2:.3f} um^2/bit |")
    print(f"| SRAM 64-bit read E64(C) = k * C_KiB^q | k = {k:.3f} pJ, q = {q:.3f} |")
    print(f"| DRAM energy per bit | {tech.dram_energy_per_bit_pj:.2f} pJ/bit |\n")


def print_mac_table(tech) -> None:
    print(f"### MAC cost by operand widths ({tech.name}, accumulator 32 bits, no shifter)\n")
    print("| a_bits x w_bits | multiplier pJ | MAC pJ | MAC / (8x8 MAC) | multiplier um^2 | MAC um^2 | PE um^2 |")
    print("|---|---|---|---|---|---|---|")
    ref = mac_energy_pj(tech, 8, 8, 32)
    for a, w in ((2, 2), (4, 4), (4, 8), (8, 8), (8, 16), (16, 16)):
        e = mac_energy_pj(tech, a, w, 32)
        print(f"| {a} x {w} | {mult_energy_pj(tech, a, w):.4f} | {e:.4f} | {e / ref:.3f} | "
              f"{mult_area_um2(tech, a, w):.1f} | {mac_area_um2(tech, a, w, 32):.1f} | "
              f"{pe_area_um2(tech, a, w, 32):.1f} |")
    print()


def print_bit_fusion(tech) -> None:
    print(f"### Cross-check against Bit Fusion's fixed-precision PEs ({tech.name})\n")
    print("PE = b x b multiplier + accumulator adder + registers (a, w, acc); energy per busy cycle = "
          "MAC + register write + register clock. Accumulator assumed 2b + headroom bits.\n")
    print("| bits | headroom | acc bits | model um^2 | Bit Fusion um^2 | area ratio | model pJ/cycle | "
          "Bit Fusion pJ/cycle | energy ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for headroom in (0, 8):
        for b, (bf_area, bf_energy) in BIT_FUSION.items():
            acc = acc_for(b, headroom)
            area = pe_area_um2(tech, b, b, acc)
            energy = pe_energy_per_cycle_pj(tech, b, acc)
            print(f"| {b} | {headroom} | {acc} | {area:.0f} | {bf_area:.0f} | {area / bf_area:.2f} | "
                  f"{energy:.3f} | {bf_energy:.3f} | {energy / bf_energy:.2f} |")
    print("\nCost of doubling the width, b -> 2b (model with acc = 2b + headroom vs Bit Fusion):\n")
    print("| step | headroom | model area x | Bit Fusion area x | model energy x | Bit Fusion energy x |")
    print("|---|---|---|---|---|---|")
    for headroom in (0, 8):
        for b in (2, 4, 8):
            area = pe_area_um2(tech, 2 * b, 2 * b, acc_for(2 * b, headroom)) / pe_area_um2(tech, b, b, acc_for(b, headroom))
            energy = (pe_energy_per_cycle_pj(tech, 2 * b, acc_for(2 * b, headroom))
                      / pe_energy_per_cycle_pj(tech, b, acc_for(b, headroom)))
            print(f"| {b} -> {2 * b} | {headroom} | {area:.2f} | {BIT_FUSION[2 * b][0] / BIT_FUSION[b][0]:.2f} | "
                  f"{energy:.2f} | {BIT_FUSION[2 * b][1] / BIT_FUSION[b][1]:.2f} |")
    print()


def plot(tech, out: Path) -> None:
    widths = list(range(2, 33))
    fig, (ax_e, ax_a) = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, mult, add, mac, pe, unit in (
        (ax_e, mult_energy_pj, add_energy_pj, mac_energy_pj, pe_energy_per_cycle_pj, "energy (pJ)"),
        (ax_a, mult_area_um2, add_area_um2, mac_area_um2, None, "area (um$^2$)"),
    ):
        ax.plot(widths, [mult(tech, b, b) for b in widths], label="multiplier b x b")
        ax.plot(widths, [mult(tech, b, 8) for b in widths], "--", label="multiplier b x 8")
        ax.plot(widths, [add(tech, b) for b in widths], ":", label="adder, b bits")
        ax.plot(widths, [mac(tech, b, b, fig_acc(b)) for b in widths], lw=2, label="MAC b x b, acc 2b bits")
        if pe is not None:
            ax.plot(widths, [pe(tech, b, fig_acc(b)) for b in widths], lw=1, color="k",
                    label="PE per busy cycle (MAC + registers)")
        else:
            ax.plot(widths, [pe_area_um2(tech, b, b, fig_acc(b)) for b in widths], lw=1, color="k",
                    label="PE (MAC + registers), acc 2b")
        key = "energy" if ax is ax_e else "area"
        ax.scatter([8, 32], [tech[f"mult_{key}_8b"], tech[f"mult_{key}_32b"]], marker="o", zorder=5,
                   label=f"Horowitz 2014 multiplier ({tech.entry(f'mult_{key}_8b').label})")
        ax.scatter([8, 16, 32], [tech[f"add_{key}_{b}b"] for b in (8, 16, 32)], marker="s", zorder=5,
                   label=f"Horowitz 2014 adder ({tech.entry(f'add_{key}_8b').label})")
        if tech.node_nm == 45:
            ax.scatter(list(BIT_FUSION), [v[0 if ax is ax_a else 1] for v in BIT_FUSION.values()],
                       marker="^", color="r", zorder=5, label="Bit Fusion PE (ISCA 2018)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks([2, 4, 8, 16, 32], labels=["2", "4", "8", "16", "32"])
        ax.set_xlabel("operand width b (bits)")
        ax.set_ylabel(unit)
        ax.grid(True, which="both", alpha=0.3)
    ax_e.set_title(f"MAC energy vs bit width ({tech.name})")
    ax_a.set_title(f"MAC area vs bit width ({tech.name})")
    ax_a.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tech", default="45nm")
    ap.add_argument("--out", type=Path, default=None,
                    help="figure path (default docs/figures/mac_cost_vs_bits.png, _<tech> added for other nodes)")
    ap.add_argument("--entries", action="store_true", help="also print the table's entries")
    args = ap.parse_args()
    tech = load_technology(args.tech)
    if args.entries:
        print_entries(tech)
    print_fits(tech)
    print_mac_table(tech)
    print_bit_fusion(tech)
    print_equal_area(tech)
    suffix = "" if args.tech == "45nm" else f"_{tech.name}"
    out = args.out or ROOT / "docs" / "figures" / f"mac_cost_vs_bits{suffix}.png"
    plot(tech, out.resolve())


if __name__ == "__main__":
    main()
