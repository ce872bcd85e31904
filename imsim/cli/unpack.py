"""`imsim unpack FILE.npz`: unpack one GEMM (arrays A and B) and check exactness per strategy."""
from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import numpy as np

from imsim.cli.common import add_quant_args, format_table, print_json, quant_kwargs, rtn_requested
from imsim.cli.display import strategy_text
from imsim.cli.vocabulary import (add_bits_args, add_json_arg, add_strategy_arg, deprecated_alias, option,
                                  resolve_bits)
from imsim.errors import UserError, about, bad_value

INT64_MAX = 2**63 - 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("unpack", help="unpack one GEMM from an .npz (arrays A, B) and check the exact result",
                       description="Unpack the GEMM A @ B stored in FILE.npz so A fits --bits and B fits --w-bits; "
                                   "print shapes, MACs, the unpack ratio per strategy and whether the recombined "
                                   "product equals the int64 reference exactly.")
    p.add_argument("file", metavar="FILE.npz", help="file holding integer arrays A (M x K) and B (K x N) "
                                                    "(or floats, with --beta); for a trace use `imsim run --trace`")
    add_bits_args(p, note=" (required unless --format gives it)")
    add_strategy_arg(p, several=True)
    add_quant_args(p, beta_help="RTN-quantize float A and B first: alpha = the k-th largest |x|, "
                                "k = int(numel (1 - BETA)), 0 < BETA <= 1 (1.0: max |x|)")
    deprecated_alias(p, "--quantize", option(p, "--beta"))
    p.add_argument("--format", dest="fmt", default=None, metavar="eXmY",
                   help="quantize float A (and B) to this eXmY/minifloat format (e.g. e2m3, fp8_e4m3) and "
                        "align exponents into an exact integer GEMM; --bits defaults to the format's significand width")
    p.add_argument("--w-format", default=None, metavar="eXmY", help="B-side format (default: --format)")
    add_json_arg(p)
    p.set_defaults(func=run)


def load_gemm_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Arrays A and B from an .npz file (UserError naming the file for anything unreadable)."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{path}: is a folder, not one GEMM's .npz; for a trace folder use `imsim run --trace {path}`")
    if not p.is_file():
        raise UserError(f"{path}: no such file")
    if not zipfile.is_zipfile(p):
        raise UserError(f"{path}: not an .npz file (not a zip archive); expected arrays A and B saved with numpy.savez")
    from imsim.limits import check_gemm
    from imsim.npzsafe import check_member, load_member

    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in ("A", "B") if k not in data.files]
            if missing and "__imsim_trace__" in data.files:
                raise UserError(f"{path}: is an imsim trace (many GEMMs), not one GEMM with arrays A and B; "
                                f"run it with `imsim run --trace {path}` (or `imsim trace stats {path}`)")
            if missing:
                raise UserError(f"{path}: missing array {' and '.join(missing)} (holds: {', '.join(data.files) or 'nothing'}); "
                                f"expected arrays A (M x K) and B (K x N)")
            (M, K), (K2, N) = check_member(data, "A", path), check_member(data, "B", path)
            if K != K2:
                raise UserError(f"{path}: shape mismatch: A is {M}x{K}, B is {K2}x{N}; A's columns must equal B's rows")
            check_gemm(M, K, N, path)  # before any data is read
            return load_member(data, "A", path), load_member(data, "B", path)
    except UserError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: cannot read as .npz ({type(exc).__name__}: {exc})") from None


def run(args: argparse.Namespace) -> int:
    A, B = load_gemm_npz(args.file)
    with about(args.file):
        return _run(args, A, B)


def _run(args: argparse.Namespace, A: np.ndarray, B: np.ndarray) -> int:
    from imsim.unpack import exact_product, reference_gemm, unpack_gemm

    for name, X in (("A", A), ("B", B)):
        if X.ndim != 2:
            raise bad_value(args.file, name, f"shape {X.shape}", "must be a 2-D matrix")
        if X.dtype.kind == "f" and not rtn_requested(args) and args.fmt is None:
            raise bad_value(args.file, name, f"dtype {X.dtype}",
                            "floats need RTN quantization (--beta BETA, e.g. --beta 1.0, and/or --levels D) or "
                            "--format eXmY; or store integers")
        if X.dtype.kind not in "fiu":
            raise bad_value(args.file, name, f"dtype {X.dtype}", "must hold integers or floats")
        if X.dtype.kind in "iu" and X.size and (int(X.max()) > INT64_MAX or int(X.min()) < -INT64_MAX):
            worst = int(X.max()) if int(X.max()) > INT64_MAX else int(X.min())
            raise bad_value(args.file, name, worst, "entries must lie in +-(2^63 - 1) (int64 without -2^63)")
    if args.fmt is None and args.w_format is not None:
        raise UserError("--w-format needs --format (the A-side format)")
    if args.fmt is not None and args.beta is not None:
        raise UserError("--format and --beta both choose how floats become integers; give one of them")
    if args.fmt is not None and (args.levels is not None or args.w_levels is not None or args.quantizer):
        raise UserError("--levels / --w-levels / --quantizer set RTN quantization (--beta); --format quantizes "
                        "to its own grid")
    fmt_info = None
    a_bits, w_bits = resolve_bits(args)
    if args.fmt is not None:
        from imsim.formats import parse_format, quantize_operands_exmy

        fa, fb = parse_format(args.fmt), parse_format(args.w_format or args.fmt)
        a_bits = a_bits or fa.significand_bits
        w_bits = w_bits or (fb.significand_bits if args.w_format else a_bits)
        A, B, info = quantize_operands_exmy(A.astype(np.float64), B.astype(np.float64), fa, fb)
        fmt_info = info.to_dict()
    if a_bits is None or w_bits is None:
        raise UserError("--bits is required (or --a-bits and --w-bits, or --format, which implies them)")
    quality: dict = {}
    if rtn_requested(args) and args.fmt is None:
        from imsim.quality import quantize_gemm

        beta = 1.0 if args.beta is None else args.beta
        A, B, quality = quantize_gemm(A, B, a_bits, w_bits, beta=beta, **quant_kwargs(args))
    if A.shape[1] != B.shape[0]:
        raise UserError(f"{args.file}: shape mismatch: A is {A.shape[0]}x{A.shape[1]}, B is "
                        f"{B.shape[0]}x{B.shape[1]}; A's columns must equal B's rows")
    ref = reference_gemm(A, B)
    rows = []
    for strategy in args.strategy:
        ug = unpack_gemm(A, B, a_bits, w_bits, strategy, args.digits)
        row = ug.summary()
        row["exact"] = bool(np.array_equal(exact_product(ug), ref))
        rows.append(row)
    if args.json:
        print_json({"file": args.file, "a_bits": a_bits, "w_bits": w_bits, "beta": quality.get("beta"),
                    "digits": args.digits, **quality, "format": fmt_info, "strategies": rows,
                    "exact": all(r["exact"] for r in rows)})
    else:
        M, K, N = rows[0]["M"], rows[0]["K"], rows[0]["N"]
        print(f"{args.file}: A {M}x{K} @ B {K}x{N}, a_bits={a_bits}, w_bits={w_bits}, useful MACs {M * K * N}, "
              f"digits={args.digits}")
        if quality.get("quantizer"):
            err = f", rel_error={quality['rel_error']:.4g}" if quality.get("rel_error") is not None else ""
            print(f"quantized: {quality['quantizer']} beta={quality['beta']} levels={quality['levels']} "
                  f"w_levels={quality['w_levels']}{err}")
        shown = [{**r, "strategy": strategy_text(r)} for r in rows]
        print(format_table(shown, ["strategy", "M_low", "K_low", "N_low", "macs", "unpack_ratio", "k_classes", "exact"]))
    return 0 if all(r["exact"] for r in rows) else 1
