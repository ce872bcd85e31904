"""Generate docs/yaml-reference.md from the code's own schema tables, so it never drifts.

Hardware keys come from `imsim.hwconfig.FIELDS` (type and allowed range) and the `HwConfig`
defaults; sweep-spec keys from `imsim.sweep.spec` (SPEC_KEYS, SWEEP_FIELDS, TRACE_KEYS,
DEFAULTS, allowed values). Units and one-line meanings are kept here in `HW_DOC`; the script
fails if a key of the schema has no entry (or an entry names a key that no longer exists).

    python experiments/gen_yaml_reference.py [--out docs/yaml-reference.md] [--check]

--check exits 1 if the file on disk differs from what would be generated.
"""
from __future__ import annotations

import dataclasses
import sys

from generated_doc import generated_doc_main

from imsim.hwconfig import FIELDS, HwConfig
from imsim.quantize import MAX_LEVELS, MIN_LEVELS
from imsim.sweep import spec as sweep_spec

# key -> (unit, meaning). Units follow the field names (docs/architecture.md).
HW_DOC: dict[str, tuple[str, str]] = {
    "name": ("-", "design name (results column `hw_name`); defaults to the file stem when loaded from a file"),
    "rows": ("PEs", "PE array rows"),
    "cols": ("PEs", "PE array columns"),
    "a_bits": ("bits", "A-side (activation / left) operand width; range +-(2^(a_bits-1)-1)"),
    "w_bits": ("bits", "B-side (weight / right) operand width"),
    "acc_bits": ("bits", "signed PE accumulator width; must be >= a_bits + w_bits - 1"),
    "recomb_acc_bits": ("bits", "signed accumulator width of the recombination unit"),
    "dataflow": ("-", "which operand stays in the PEs: output-, weight- or input-stationary"),
    "k_scale": ("-", "how column-unpack K scales are applied: shift-accumulate PEs, one pass per scale "
                     "class, or none (no shifter: GEMMs with K scales are refused)"),
    "clock_mhz": ("MHz", "array clock"),
    "sram_a_kib": ("KiB", "SRAM buffer for A tiles"),
    "sram_b_kib": ("KiB", "SRAM buffer for B tiles"),
    "sram_c_kib": ("KiB", "SRAM buffer for C tiles"),
    "double_buffered": ("-", "buffers double-buffered (loads overlap compute)"),
    "sram_word_bytes": ("bytes", "SRAM word width (bytes per access)"),
    "dram_bw_bytes_per_cycle": ("bytes/cycle", "DRAM bandwidth per array clock cycle"),
    "dram_latency_cycles": ("cycles", "DRAM access latency"),
    "recomb_lanes": ("elements/cycle", "recombination-unit shift-add lanes; 0 = no recombination unit "
                                       "(plain design: GEMMs needing one are refused)"),
    "unpack_lanes": ("elements/cycle", "unpack-unit lanes slicing digits out of stored operands on chip; "
                                       "0 = no unpack unit"),
    "unpack_in_bits": ("bits", "widest stored operand the unpack unit slices in one pass (wider: "
                               "ceil(stored/unpack_in_bits) passes)"),
    "weight_unpack": ("-", "where weights (B) are unpacked: offline (stored unpacked at w_bits) or on_chip "
                           "(stored packed, sliced by the unpack unit)"),
    "objective": ("-", "what strategy `auto` minimises on this design: macs, cycles, energy or edp"),
    "overflow": ("-", "accumulator overflow policy"),
    "technology": ("-", "technology table name for energy and area (imsim/tech_tables/<name>.yaml)"),
    "zero_skipping": ("-", "skip MACs with a zero operand (energy only)"),
}

SPEC_DOC: dict[str, str] = {
    "name": "sweep name (default: the spec file's stem)",
    "description": "free text, stored in the manifest",
    "base": "base hardware config: a file path / name in hw_configs/, or a mapping of hardware keys "
            "(optionally with `config:` naming the file they override)",
    "axes": "mapping of field -> value or list of values: any hardware key, or a sweep field below",
    "zip": "list of lists of axis names that advance together instead of forming a product, e.g. [[rows, cols]]",
    "filters": "list of expressions over point fields that keep a point when true, or {max_area_um2: X} / "
               "{min_area_um2: X} (design area, um^2)",
    "equal_area": "a reference design (name / path / mapping like `base`): each point's array becomes the largest "
                  "square rows = cols whose design area (um^2) is <= the reference's; rows/cols may then not be axes",
    "execute": "true: exact value-by-value execution of every GEMM (sets `exact`); false: cycle/energy model only",
    "eval": "a model name or list (`minilm`, `smollm2`; torch extra): every row gets that model's quality columns "
            "(e.g. `minilm_cos_mean`), computed once per quantization setting (docs/model-eval.md)",
}

FIELD_DOC: dict[str, str] = {
    "trace": "a trace name ('bundled', the MiniLM subset shipped with imsim, or a captured one: "
             "`imsim trace list`), a .npz file / trace folder, or a mapping "
             "with keys below",
    "strategy": "unpack strategy",
    "beta": "RTN threshold: alpha = the k-th largest |x| with k = int(numel (1 - beta)) (1.0 = max |x|)",
    "granularity": "RTN scale per tensor, per row or per column",
    "timing": "compute-timing mode of the array model",
    "levels": "distinct values d of A's RTN quantization (the paper's num_dist_vals); null = 2^a_bits - 1; "
              "quality depends on (quantizer, beta, levels), never on the MAC width",
    "w_levels": "distinct values of B's quantization; null = `levels` if that is set, else 2^w_bits - 1",
    "quantizer": "paper: IM-Unpack's percentile_quantize_fn (scale 0.5 d / alpha, alpha may round one past "
                 "the body); symmetric: scale (d-1)/2 / alpha with the beta-quantile as alpha",
    "digits": "unpack digit split: signmag (sign-magnitude, never costlier) or floor (the paper's x % s, x // s)",
    "format": "optional A-side operand format (eXmY minifloat name, docs/formats.md): quantize to it and align "
              "exponents into an exact integer GEMM instead of RTN; a_bits/w_bits default to the significand "
              "widths; `none` = RTN (with beta)",
    "w_format": "optional B-side operand format (default: `format`); needs `format`",
}

TRACE_DOC: dict[str, str] = {
    "name": "label of the trace in the results' `trace` column (default: the path; labels must differ)",
    "path": "a trace name (`imsim trace list`) or a .npz file / trace folder (relative to the spec file or the cwd)",
    "synthetic": "mapping of parameters for imsim.trace.synthetic (instead of path)",
    "kinds": "keep only GEMMs of these kinds (linear, attn_qk, attn_pv, grad_input, grad_weight, ...); "
             "each must occur in the trace",
    "phases": "keep only fwd and/or bwd GEMMs; each must occur in the trace, and with `kinds` keep at "
              "least one GEMM",
    "limit": "keep the first N GEMMs after the kind/phase selection",
}


def _allowed_values(key: str) -> str:
    return {"strategy": ", ".join(sweep_spec.STRATEGIES), "timing": ", ".join(sweep_spec.TIMINGS),
            "granularity": ", ".join(sweep_spec.GRANULARITIES), "beta": "number in (0, 1]",
            "trace": "string or mapping", "levels": f"odd integer {MIN_LEVELS}..{MAX_LEVELS} or null",
            "w_levels": f"odd integer {MIN_LEVELS}..{MAX_LEVELS} or null", "quantizer": "paper, symmetric",
            "digits": "signmag, floor", "format": "eXmY name or none", "w_format": "eXmY name or none"
            }.get(key, "")


def _check_coverage() -> None:
    keys = list(FIELDS)
    missing = [k for k in keys if k not in HW_DOC]
    stale = [k for k in HW_DOC if k not in FIELDS]
    for what, have, doc in (("spec key", sweep_spec.SPEC_KEYS, SPEC_DOC), ("sweep field", sweep_spec.SWEEP_FIELDS
                            + sweep_spec.FORMAT_AXES, FIELD_DOC), ("trace key", sweep_spec.TRACE_KEYS, TRACE_DOC)):
        missing += [f"{what} {k}" for k in have if k not in doc]
        stale += [f"{what} {k}" for k in doc if k not in have]
    if missing or stale:
        raise SystemExit(f"gen_yaml_reference.py: update the tables here: undocumented {missing}, stale {stale}")


def _esc(text: str) -> str:
    """Escape pipes so table cells stay cells."""
    return text.replace("|", "\\|")


def _cell(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def generate() -> str:
    """The markdown text of docs/yaml-reference.md."""
    _check_coverage()
    defaults = {f.name: f.default for f in dataclasses.fields(HwConfig)}
    out = ["# YAML reference", "",
           "Generated by `python experiments/gen_yaml_reference.py` from `imsim/hwconfig.py` and "
           "`imsim/sweep/spec.py`; do not edit by hand (`make -C experiments yaml-reference` regenerates it).", "",
           "## Hardware configs (`hw_configs/*.yaml`)", "",
           "One flat key per `HwConfig` field. Missing keys take the default; unknown keys, wrong types and "
           "out-of-range values are errors naming the file, key, value and what is allowed (exit 2). "
           "The same keys work in `imsim run --set KEY=VALUE` and as sweep axes.", "",
           "| key | unit | default | allowed | meaning |", "|---|---|---|---|---|"]
    for key, f in FIELDS.items():
        unit, meaning = HW_DOC[key]
        out.append(f"| `{key}` | {unit} | {_cell(defaults[key])} | {f.allowed()} | {_esc(meaning)} |")
    out += ["", "Cross-key rule: `acc_bits >= a_bits + w_bits - 1` (a product must fit the accumulator).", "",
            "## Sweep specs (`experiments/*.yaml`)", "",
            "| key | meaning |", "|---|---|"]
    out += [f"| `{k}` | {_esc(SPEC_DOC[k])} |" for k in sweep_spec.SPEC_KEYS]
    out += ["", "### Sweep fields (usable in `axes`, besides every hardware key)", "",
            "| field | default | allowed | meaning |", "|---|---|---|---|"]
    for k in sweep_spec.SWEEP_FIELDS + sweep_spec.FORMAT_AXES:
        default = _cell(sweep_spec.DEFAULTS[k]) if k in sweep_spec.DEFAULTS else "none"
        out.append(f"| `{k}` | {default} | {_allowed_values(k)} | {_esc(FIELD_DOC[k])} |")
    out += ["", "### Trace mapping keys (`axes: {trace: [{path: ..., kinds: ...}]}`)", "",
            "| key | meaning |", "|---|---|"]
    out += [f"| `{k}` | {_esc(TRACE_DOC[k])} |" for k in sweep_spec.TRACE_KEYS]
    out += ["", "Filters may also use `hw_name`; `max_area_um2` / `min_area_um2` compare against "
            "`imsim.area.area_of_design` (um^2).", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    return generated_doc_main(generate, "yaml-reference.md", "gen_yaml_reference.py", __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
