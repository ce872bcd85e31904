"""Compare results written by any RTL with the golden vectors of an export folder.

The results file is read strictly (imsim.rtl.hexfile): it must hold exactly as many values
as the golden target (psum: P x M' x N' at acc_bits, or c: M x N at recomb_acc_bits), each
sign-interpreted at the manifest's width. Values are compared exactly; the first mismatches
are reported with their index and position. A cycle count, when given, is compared with the
manifest's expected count (imsim's compute_cycles of the array jobs); with the c target a
recombination unit's busy count can be compared too (imsim's recomb_busy_cycles).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imsim.errors import UserError, bad_value, shown
from imsim.rtl.export import FORMAT
from imsim.rtl.hexfile import read_hex

TARGETS = ("psum", "c")


@dataclass(frozen=True)
class Mismatch:
    """One differing element: flat index (row-major), position, expected and received values."""

    index: int
    position: dict[str, int]
    expected: int
    got: int

    def describe(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.position.items())
        return f"index {self.index} ({where}): expected {self.expected}, got {self.got}"


@dataclass(frozen=True)
class Comparison:
    """Outcome of a compare: `exact` when every value matches."""

    target: str
    count: int
    width: int
    mismatches: int
    first: tuple[Mismatch, ...]
    cycles: int | None
    expected_cycles: int | None
    recomb_cycles: int | None = None
    expected_recomb_cycles: int | None = None

    @property
    def exact(self) -> bool:
        return self.mismatches == 0

    @property
    def recomb_cycle_diff(self) -> int | None:
        """RTL recombination cycles minus imsim's (None when either is unknown)."""
        if self.recomb_cycles is None or self.expected_recomb_cycles is None:
            return None
        return self.recomb_cycles - self.expected_recomb_cycles

    @property
    def cycle_diff(self) -> int | None:
        """RTL cycles minus imsim's expected cycles (None when either is unknown)."""
        if self.cycles is None or self.expected_cycles is None:
            return None
        return self.cycles - self.expected_cycles

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "count": self.count, "width": self.width,
                "exact": self.exact, "mismatches": self.mismatches,
                "first_mismatches": [asdict(m) for m in self.first],
                "cycles": self.cycles, "expected_cycles": self.expected_cycles,
                "cycle_diff": self.cycle_diff, "recomb_cycles": self.recomb_cycles,
                "expected_recomb_cycles": self.expected_recomb_cycles,
                "recomb_cycle_diff": self.recomb_cycle_diff}


def load_manifest(export_dir: str | Path) -> dict[str, Any]:
    """manifest.json of an export folder; UserError if missing or not an imsim export."""
    path = Path(export_dir) / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found; DIR must be a folder written by `imsim rtl export`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read manifest: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{path}: not an imsim RTL export manifest (format {FORMAT!r} expected)")
    return data


MAX_WIDTH = 256  # bits of a golden value (acc_bits <= 64, recomb_acc_bits <= 128)


def _entry(manifest: dict[str, Any], target: str, source: Path) -> tuple[int, tuple[int, ...], str]:
    """(width, shape, npy file name) of `files.<target>`, each checked (a tampered manifest is a
    one-line UserError naming the field; sizes are checked against the memory limit)."""
    from imsim.limits import check_memory

    files = manifest.get("files")
    entry = files.get(target) if isinstance(files, dict) else None
    where = f"files.{target}"
    if not isinstance(entry, dict):
        raise bad_value(str(source), where, entry, "a mapping with width, shape and npy")
    width, shape, npy = entry.get("width"), entry.get("shape"), entry.get("npy")
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_WIDTH:
        raise bad_value(str(source), f"{where}.width", width, f"an integer in 1..{MAX_WIDTH} (bits)")
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 3
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)):
        raise bad_value(str(source), f"{where}.shape", shape, "a list of 1 to 3 positive integers")
    if not isinstance(npy, str) or Path(npy).name != npy or not npy.endswith(".npy"):
        raise bad_value(str(source), f"{where}.npy", npy, "a .npy file name inside the export folder")
    check_memory(16 * math.prod(shape), f"{source}: {where}.shape {shape}")
    return width, tuple(shape), npy


def _position(index: int, shape: tuple[int, ...], target: str) -> dict[str, int]:
    coords = np.unravel_index(index, shape)
    names = ("pass", "row", "col") if target == "psum" else ("row", "col")
    return {n: int(c) for n, c in zip(names, coords)}


def compare_values(expected: np.ndarray, got: np.ndarray, target: str, width: int,
                   max_report: int = 10, cycles: int | None = None,
                   expected_cycles: int | None = None, recomb_cycles: int | None = None,
                   expected_recomb_cycles: int | None = None) -> Comparison:
    """Compare `got` (flat, row-major) with `expected` (any shape) exactly."""
    flat = np.asarray(expected).ravel()
    if flat.size != np.asarray(got).size:
        raise ValueError(f"{np.asarray(got).size} values for {flat.size} expected")
    diff = np.flatnonzero(flat.astype(object) != np.asarray(got).astype(object))
    first = tuple(Mismatch(index=int(i), position=_position(int(i), expected.shape, target),
                           expected=int(flat[i]), got=int(got[i])) for i in diff[:max_report])
    return Comparison(target=target, count=int(flat.size), width=width, mismatches=int(diff.size),
                      first=first, cycles=cycles, expected_cycles=expected_cycles,
                      recomb_cycles=recomb_cycles, expected_recomb_cycles=expected_recomb_cycles)


def compare_export(export_dir: str | Path, results: str | Path, target: str = "psum",
                   cycles: int | None = None, max_report: int = 10,
                   recomb_cycles: int | None = None) -> Comparison:
    """Read RESULTS (any RTL's $writememh output) and compare with the export's golden `target`."""
    if target not in TARGETS:
        raise bad_value("command line", "--against", target, "one of " + ", ".join(TARGETS))
    manifest = load_manifest(export_dir)
    width, shape, npy = _entry(manifest, target, Path(export_dir) / "manifest.json")
    try:
        expected = np.load(Path(export_dir) / npy, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{Path(export_dir) / npy}: cannot read the golden {target} values "
                        f"({type(exc).__name__}: {shown(str(exc), 120)})") from None
    if expected.shape != shape:
        raise UserError(f"{Path(export_dir) / npy}: shape {expected.shape} differs from "
                        f"the manifest's {list(shape)}")
    count = int(np.prod(shape))
    got = read_hex(results, width, signed=True, count=count)
    model = manifest.get("cycles", {})
    expected_recomb = model.get("recomb_expected") if target == "c" else None
    return compare_values(expected, got, target, width, max_report, cycles,
                          model.get("expected_total"), recomb_cycles, expected_recomb)


def report_lines(cmp: Comparison, results: str) -> list[str]:
    """Human-readable report of a comparison."""
    lines = []
    if cmp.exact:
        lines.append(f"{results}: all {cmp.count} {cmp.target} values match ({cmp.width}-bit signed)")
    else:
        lines.append(f"{results}: {cmp.mismatches} of {cmp.count} {cmp.target} values differ "
                     f"({cmp.width}-bit signed); first mismatches:")
        lines += [f"  {m.describe()}" for m in cmp.first]
    for what, got, want, diff in (("cycles", cmp.cycles, cmp.expected_cycles, cmp.cycle_diff),
                                  ("recombination cycles", cmp.recomb_cycles,
                                   cmp.expected_recomb_cycles, cmp.recomb_cycle_diff)):
        if got is None:
            continue
        if want is None:
            lines.append(f"{what}: {got} (no imsim cycle model for this export)")
        else:
            lines.append(f"{what}: RTL {got}, imsim {want}, difference {diff:+d}")
    return lines
