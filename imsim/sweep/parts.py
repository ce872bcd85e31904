"""Part files of a sweep folder: the finished points of one task, as one file.

A task's points are committed together, as one file written atomically (imsim.sweep.store):
one file creation and one fsync per task rather than per point. The layout is JSON Lines::

    parts/<hash of its first point>.jsonl
        {"points": ["<hash>", ...]}                              header: the points it holds
        {"point_index": 3, "point_hash": "<hash>", "rows": [...]}  one line per point, header order

The header lets the store list the committed points without parsing any result rows. Folders
written by earlier versions hold one point per file, ``parts/<hash>.json`` = that point's line;
they are read the same way, so such a folder resumes. A part holds plain rows only (JSON
scalars, imsim.sweep.store.plain_row); reading one back gives the very rows that were written
(floats round-trip exactly through their shortest repr; NaN and infinities as NaN/Infinity).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

SUFFIX = ".jsonl"
LEGACY_SUFFIX = ".json"  # one point per file (imsim-sweep/1 folders)
PATTERNS = ("*" + SUFFIX, "*" + LEGACY_SUFFIX)


class PartError(ValueError):
    """A part file that cannot be read (torn by hand, or not a part at all)."""


def part_name(first_hash: str) -> str:
    """File name of a part whose first point has hash `first_hash`."""
    return f"{first_hash}{SUFFIX}"


def encode(entries: Sequence[tuple[int, str, list[dict[str, Any]]]]) -> bytes:
    """The part file of (point index, point hash, plain rows) entries, in the order given."""
    lines = [json.dumps({"points": [h for _, h, _ in entries]})]
    lines += [json.dumps({"point_index": i, "point_hash": h, "rows": rows}, allow_nan=True) for i, h, rows in entries]
    return ("\n".join(lines) + "\n").encode()


def part_files(folder: Path) -> list[Path]:
    """Every part file in `folder`, sorted by name (temporary files, which start with '.', excluded)."""
    return sorted(p for pattern in PATTERNS for p in folder.glob(pattern) if not p.name.startswith("."))


def hashes(path: Path) -> list[str]:
    """Hashes of the points a part holds (only its header is read). PartError if unreadable."""
    if path.suffix == LEGACY_SUFFIX:
        return [path.stem]
    try:
        with open(path, "rb") as fh:
            header = json.loads(fh.readline())
        points = header["points"]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise PartError(f"{path}: unreadable part ({type(exc).__name__})") from None
    if not isinstance(points, list) or not all(isinstance(h, str) for h in points):
        raise PartError(f"{path}: unreadable part (header is not a list of point hashes)")
    return points


def read(path: Path) -> list[tuple[str, list[dict[str, Any]]]]:
    """(point hash, rows) of every point a part holds, in its order. PartError if unreadable."""
    try:
        data = path.read_bytes()
        if path.suffix == LEGACY_SUFFIX:
            payloads = [json.loads(data)]
        else:
            header, *lines = data.rstrip(b"\n").split(b"\n")  # json.dumps escapes newlines in strings
            payloads = [json.loads(line) for line in lines]
            if [p["point_hash"] for p in payloads] != json.loads(header)["points"]:
                raise ValueError("its header and its points differ")
        return [(p["point_hash"], p["rows"]) for p in payloads]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise PartError(f"{path}: unreadable part ({type(exc).__name__}: {exc})") from None


def committed(folder: Path) -> list[str]:
    """Hashes of the points held by all parts in `folder` (none if it does not exist); a point
    committed in two parts would appear twice. PartError if a part is unreadable."""
    return [h for path in part_files(folder) for h in hashes(path)] if folder.is_dir() else []
