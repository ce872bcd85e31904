"""Resumable, crash-safe results store of a sweep (one output folder).

Layout of the folder::

    manifest.json        spec (normalized), spec hash, imsim version, every point's index + hash
    parts/<hash>.jsonl   the finished points of one task: their GEMM result rows (committed
                         atomically; format in imsim.sweep.parts)
    results.parquet/.csv one row per (point, GEMM), sorted by (point_index, gemm_index)
    totals.parquet/.csv  one row per point: sums over its GEMMs (see `point_totals`)

A task's points are committed by writing their part file under a temporary name, fsync-ing it
and renaming it over the final name (`os.replace`, atomic on POSIX): after a crash a part is
either complete or absent, so a re-run computes exactly the missing points. The final
tables are rebuilt from the parts, so they do not depend on the order points finished; the
table rows of points committed by this process come with their batch (`prepare_batch`, built
where the points were computed) and equal those rebuilt from their part.
A folder of another spec is refused (UserError, naming what changed), never mixed, unless the new
spec only adds points to it (a grown sweep, imsim.sweep.grow): then only the new points are computed.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from imsim import __version__
from imsim.errors import UserError, os_error, shown
from imsim.sweep import parts
from imsim.sweep.spec import Point, SweepSpec

FORMAT = "imsim-sweep/2"  # /2: one part file per task (imsim.sweep.parts); /1 folders resume
MANIFEST = "manifest.json"
PARTS = "parts"
LOCK = ".lock"
_HELD: set[str] = set()  # folders this process has locked (POSIX locks do not exclude the same process)
RESULTS = "results"
TOTALS = "totals"

# totals: columns summed over a point's GEMMs are recognised by name
_ADDITIVE_NAMES = {"cycles", "macs", "useful_macs", "folds", "passes"}
_ADDITIVE_SUFFIXES = ("_cycles", "_bytes", "_pj", "_macs", "_passes", "_count", "_ops", "_overflows", "_us", "_s")
_CYCLE_WEIGHTED = ("utilization", "mapping_efficiency")


# ------------------------------------------------------------------------------- pure helpers

def plain_value(value: Any) -> Any:
    """A JSON/Parquet-friendly scalar: numpy scalars -> Python, containers -> JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if isinstance(value, (list, tuple, dict)) or hasattr(value, "tolist"):
        obj = value.tolist() if hasattr(value, "tolist") else value
        return json.dumps(obj, default=str, sort_keys=True)
    return str(value)


_PLAIN_TYPES = frozenset((type(None), bool, int, float, str))  # values plain_value returns as they are


def plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """`plain_value` applied to every field of a result row (most values are plain already)."""
    return {str(k): v if type(v) in _PLAIN_TYPES else plain_value(v) for k, v in row.items()}


def _is_number(value: Any) -> bool:
    kind = type(value)
    if kind is int or kind is float:
        return True
    return isinstance(value, (int, float)) and kind is not bool


@lru_cache(maxsize=4096)
def is_additive(column: str) -> bool:
    """Whether a per-GEMM column adds up over a trace (cycles, energies, bytes, MACs)."""
    if column.startswith("energy_per"):
        return False
    return column in _ADDITIVE_NAMES or column.endswith(_ADDITIVE_SUFFIXES)


@lru_cache(maxsize=4096)
def _total_kind(col: str) -> str | None:
    """How point_totals pools a column: 'exact', 'peak' (max), 'area' (first), 'sum', or None."""
    if col == "gemm_index":
        return None
    if col == "exact":
        return "exact"
    if col.startswith("peak_"):
        return "peak"
    if col.endswith("_um2"):
        return "area"
    return "sum" if is_additive(col) else None


def point_totals(point_fields: dict[str, Any], gemm_rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One totals row for a point from its GEMM rows.

    Additive columns (cycles, *_cycles, *_pj, *_bytes, *_us, macs, ...) are summed; peak_*
    columns take the maximum; area columns
    (*_um2, a property of the design) are taken from the first GEMM; `unpack_ratio` =
    macs / useful_macs and `energy_per_useful_mac_pj` = energy_pj / useful_macs are
    recomputed from the sums; `utilization` and `mapping_efficiency` are cycle-weighted
    means (= useful work / (PEs x total cycles) for utilization); `exact` is true when every
    executed GEMM was exact (None when none was executed); `gemms` counts the GEMMs; the error
    columns are pooled (imsim.quality.aggregate_errors); model-quality columns (`eval:` specs,
    e.g. minilm_cos_mean) hold one value per point and are copied.
    """
    out = dict(point_fields)
    out["gemms"] = len(gemm_rows)
    if not gemm_rows:
        return out
    columns = dict.fromkeys(c for row in gemm_rows for c in row)  # first-seen order, O(cells)
    from imsim.modeleval.registry import model_columns

    per_point = model_columns()  # model-quality columns: one value per point (`eval:` specs)
    for col in columns:
        if col in point_fields:
            continue
        if col in per_point:
            out[col] = gemm_rows[0].get(col)
            continue
        kind = _total_kind(col)
        if kind is None:
            continue
        values = [r.get(col) for r in gemm_rows]
        if kind == "exact":
            executed = [v for v in values if v is not None]
            out[col] = all(bool(v) for v in executed) if executed else None
            continue
        numbers = [v for v in values if _is_number(v)]
        if not numbers:
            continue
        if kind == "peak":
            out[col] = max(numbers)
        elif kind == "area":
            out[col] = numbers[0]
        elif len(numbers) == len(values):
            out[col] = sum(numbers)
    macs, useful = out.get("macs"), out.get("useful_macs")
    if _is_number(macs) and _is_number(useful) and useful:
        out["unpack_ratio"] = macs / useful
    if _is_number(out.get("energy_pj")) and _is_number(useful) and useful:
        out["energy_per_useful_mac_pj"] = out["energy_pj"] / useful
    from imsim.quality import aggregate_errors

    out.update(aggregate_errors(gemm_rows))  # pooled Frobenius error; rel_error_mean / _max per GEMM
    cycles = [r.get("cycles") for r in gemm_rows]
    if all(_is_number(c) for c in cycles) and sum(cycles) > 0:
        for col in _CYCLE_WEIGHTED:
            vals = [r.get(col) for r in gemm_rows]
            if all(_is_number(v) for v in vals):
                out[col] = sum(v * c for v, c in zip(vals, cycles)) / sum(cycles)
    return out


def merge_point_rows(point: Point, gemm_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Result rows of one point: the point's columns, `gemm_index`, then the GEMM's figures.

    A result field that collides with a point column (e.g. `strategy`, resolved to
    'auto(row,col)' for the 'auto' strategy) is kept as `<field>_used` when it differs
    anywhere in the point; identical duplicates are dropped.
    """
    fields = point.fields()
    differing = {k for r in gemm_rows for k, v in r.items() if k in fields and v != fields[k]}
    rows = []
    for i, r in enumerate(gemm_rows):
        row = dict(fields)
        row["gemm_index"] = i
        for k, v in r.items():
            if k in fields:
                if k in differing:
                    row[f"{k}_used"] = v
            else:
                row[k] = v
        rows.append(row)
    return rows


def table_rows(point: Point, plain_rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A point's rows of the results table (`merge_point_rows`) and its row of the totals table."""
    merged = merge_point_rows(point, plain_rows)
    fields = point.fields()
    return merged, point_totals(fields, [{k: v for k, v in m.items() if k not in fields} for m in merged])


@dataclass(frozen=True)
class Batch:
    """The finished points of one task, ready to commit: `part` is their part file (bytes);
    `tables` holds each point's (results rows, totals row), as `table_rows` gives them."""

    hashes: tuple[str, ...]
    part: bytes
    tables: tuple[tuple[list[dict[str, Any]], dict[str, Any]], ...]

    def __len__(self) -> int:
        return len(self.hashes)


def prepare_batch(finished: Sequence[tuple[Point, Iterable[dict[str, Any]]]]) -> Batch:
    """A Batch of (point, GEMM result dicts) pairs. Pure; run where the points were computed
    (a pool or Dask worker), so the process that commits only writes bytes."""
    plain = [(point, [plain_row(r) for r in rows]) for point, rows in finished]
    return Batch(hashes=tuple(point.hash for point, _ in plain),
                 part=parts.encode([(point.index, point.hash, rows) for point, rows in plain]),
                 tables=tuple(table_rows(point, rows) for point, rows in plain))


# ------------------------------------------------------------------------------------ store

def _write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically; a disk fault (full, read-only, permission) is a
    UserError naming the path (the earlier committed files stay intact)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise os_error(path, exc, "write") from None


@dataclass(frozen=True)
class Tables:
    """The consolidated tables (pandas DataFrames) and where they were written."""

    results: Any
    totals: Any
    paths: dict[str, str]


class ResultStore:
    """The output folder of one sweep spec. Opening it refuses a folder of another spec."""

    def __init__(self, out_dir: str | Path, spec: SweepSpec) -> None:
        self.dir = Path(out_dir)
        self.spec = spec
        self.parts = self.dir / PARTS
        self._lock_fh: Any = None
        self._grown_from: tuple[Any, int] | None = None  # (old spec hash, old points) when grown
        self._history: list[Any] = []  # spec hashes this folder grew from, oldest first
        self.read_only = False  # a finished sweep opened without writing (e.g. from read-only media)
        self._tables: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {}  # hash -> rows, committed here
        self._open()

    # ---- opening ------------------------------------------------------------------------
    def _open(self) -> None:
        if self.dir.exists() and not self.dir.is_dir():
            raise UserError(f"--out {self.dir}: exists and is not a folder")
        if self._check_manifest() and self._finished():
            self.read_only = True  # nothing to compute or write: no lock, no writes
            return
        if not (self.dir / MANIFEST).exists() and self.dir.exists():
            # a sweep starting at this instant has made only these (its lock, parts/, temp files)
            foreign = [p.name for p in self.dir.iterdir()
                       if p.name not in (LOCK, PARTS) and not (p.name.startswith(".") and p.name.endswith(".tmp"))]
            if foreign:
                raise UserError(f"--out {self.dir}: folder is not empty and holds no sweep {MANIFEST}; "
                                "use an empty or new folder")
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise os_error(self.parts, exc, "create the sweep folder") from None
        self._lock()
        manifest_path = self.dir / MANIFEST
        self._check_manifest()  # again under the lock: another sweep may have started meanwhile
        for stale in self.parts.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        if self._grown_from is not None:
            old_hash, old_n = self._grown_from
            print(f"imsim: --out {self.dir}: the spec grew from {old_n} to {len(self.spec.points)} points; "
                  "only the new points are computed", file=sys.stderr)
            self._history.append(old_hash)
            _write_atomic(manifest_path, self._manifest(complete=False).encode())
        if not manifest_path.exists():
            _write_atomic(manifest_path, self._manifest(complete=False).encode())

    def _grow(self, manifest: dict[str, Any]) -> None:
        """Accept a spec that only adds points to the folder's (see imsim.sweep.grow); else refuse,
        naming what changed. The manifest is rewritten for the grown spec once the lock is held."""
        from imsim.sweep.grow import describe_changes, folder_points, is_growth

        old = folder_points(manifest)
        if is_growth(old, [p.hash for p in self.spec.points]):
            self._grown_from = (manifest.get("spec_hash"), len(set(old)))
            return
        changes = describe_changes(manifest.get("spec") or {}, self.spec.normalized)
        what = "; ".join(changes) if changes else (
            f"{len(set(old) - {p.hash for p in self.spec.points})} of its points are not points of this spec")
        raise UserError(
            f"--out {self.dir}: holds results of a different sweep spec ({shown(manifest.get('spec_name'))}, "
            f"spec hash {shown(manifest.get('spec_hash'))}, this spec {self.spec.hash}): {what}; a spec may only "
            "add axis values (or new axes including the value used so far) to a folder; "
            "use another --out folder or undo the change")

    def _check_manifest(self) -> dict[str, Any] | None:
        """The folder's manifest (None if there is none); UserError if it is another spec's."""
        manifest_path = self.dir / MANIFEST
        if not manifest_path.exists():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            raise UserError(f"--out {self.dir}: {MANIFEST} is unreadable; use another folder") from None
        if not isinstance(manifest, dict):
            raise UserError(f"--out {self.dir}: {MANIFEST} is not a sweep manifest; use another folder")
        self._history = list(manifest.get("grown_from") or [])
        if manifest.get("spec_hash") != self.spec.hash:
            self._grow(manifest)  # a spec that only adds points; else UserError naming the change
        if manifest.get("imsim_version") != __version__ and not manifest.get("complete"):
            print(f"imsim: warning: --out {self.dir} was started by imsim {shown(manifest.get('imsim_version'))}, "
                  f"this is {__version__}; points computed by both will be mixed", file=sys.stderr)
        self._complete = bool(manifest.get("complete"))
        return manifest

    def _finished(self) -> bool:
        """Complete manifest, every part present and both tables written."""
        tables = all((self.dir / f"{name}.parquet").is_file() or (self.dir / f"{name}.csv").is_file()
                     for name in (RESULTS, TOTALS))
        return getattr(self, "_complete", False) and tables and not self.pending()

    def _lock(self) -> None:
        import fcntl

        # POSIX record locks (lockf), not flock: they belong to this process only, so forked pool
        # workers that outlive a run never keep the folder locked.
        key = str(self.dir.resolve())
        busy = UserError(f"--out {self.dir}: another sweep is running in this folder right now (it holds "
                         f"{self.dir / LOCK}); wait for it to finish, or use another --out folder")
        if key in _HELD:
            raise busy
        try:
            self._lock_fh = open(self.dir / LOCK, "a")  # noqa: SIM115 (held until close())
        except OSError as exc:
            raise os_error(self.dir / LOCK, exc, "lock the sweep folder") from None
        try:
            fcntl.lockf(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_fh.close()
            self._lock_fh = None
            raise busy from None
        _HELD.add(key)

    def close(self) -> None:
        """Release the folder lock."""
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None
            _HELD.discard(str(self.dir.resolve()))

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _manifest(self, complete: bool, extra: dict[str, Any] | None = None) -> str:
        data = {
            "format": FORMAT,
            "imsim_version": __version__,
            "spec_name": self.spec.name,
            "spec_source": self.spec.source,
            "spec_hash": self.spec.hash,
            "combinations": self.spec.combinations,
            "spec": self.spec.normalized,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "complete": complete,
            **({"grown_from": self._history} if self._history else {}),
            **(extra or {}),
        }
        # every point on one compact line: json's indented encoder is pure Python (~20 ms per
        # 1,000 points, written twice per run), its compact one is C
        points = ",\n  ".join(json.dumps({"index": p.index, "hash": p.hash}) for p in self.spec.points)
        return json.dumps(data, indent=1, default=str)[:-2] + f',\n "points": [\n  {points}\n ]\n}}'

    # ---- points -------------------------------------------------------------------------
    def _unreadable(self, exc: parts.PartError) -> UserError:
        return UserError(f"--out {self.dir}: {exc}; delete it and re-run to recompute its points")

    def _part_hashes(self) -> list[tuple[Path, list[str]]]:
        """(part file, hashes of the points it holds) for every part in the folder."""
        try:
            return [(f, parts.hashes(f)) for f in parts.part_files(self.parts)]
        except parts.PartError as exc:
            raise self._unreadable(exc) from None

    def done_hashes(self) -> set[str]:
        """Hashes of points whose part file is committed."""
        wanted = {p.hash for p in self.spec.points}
        return {h for _, held in self._part_hashes() for h in held if h in wanted}

    def pending(self) -> list[Point]:
        """Points not yet committed, in spec order."""
        done = self.done_hashes()
        return [p for p in self.spec.points if p.hash not in done]

    def commit_batch(self, batch: Batch) -> None:
        """Atomically record the finished points of `batch` (one part file); keep their table rows."""
        if not batch.hashes:
            return
        _write_atomic(self.parts / parts.part_name(batch.hashes[0]), batch.part)
        for point_hash, rows in zip(batch.hashes, batch.tables):
            self._tables[point_hash] = rows

    def commit(self, point: Point, gemm_rows: Iterable[dict[str, Any]]) -> None:
        """Atomically record one finished point (its per-GEMM result dicts)."""
        self.commit_batch(prepare_batch([(point, gemm_rows)]))

    def _stored_rows(self, skip: set[str]) -> dict[str, list[dict[str, Any]]]:
        """hash -> plain rows of every committed point not in `skip`, read from the parts."""
        wanted = {p.hash for p in self.spec.points} - skip
        out: dict[str, list[dict[str, Any]]] = {}
        for path, held in self._part_hashes():
            if not wanted.intersection(held):
                continue
            try:
                entries = parts.read(path)
            except parts.PartError as exc:
                raise self._unreadable(exc) from None
            for point_hash, rows in entries:
                if point_hash in wanted:
                    out.setdefault(point_hash, rows)
        return out

    # ---- consolidation ------------------------------------------------------------------
    def consolidate(self) -> Tables:
        """Build and write results/totals (Parquet + CSV) from all parts; mark the manifest complete."""
        if self.read_only:
            return load_tables(self.dir)
        import pandas as pd

        missing = self.pending()
        if missing:
            raise UserError(f"--out {self.dir}: {len(missing)} points are not finished; re-run the sweep")
        result_rows: list[dict[str, Any]] = []
        total_rows: list[dict[str, Any]] = []
        stored = self._stored_rows(skip=set(self._tables))
        for point in self.spec.points:
            merged, totals = self._tables.get(point.hash) or table_rows(point, stored[point.hash])
            result_rows += merged
            total_rows.append(totals)
        results = pd.DataFrame(result_rows).sort_values(["point_index", "gemm_index"], kind="stable")
        totals = pd.DataFrame(total_rows).sort_values(["point_index"], kind="stable")
        results = results.reset_index(drop=True)
        totals = totals.reset_index(drop=True)
        paths = {}
        for name, df in ((RESULTS, results), (TOTALS, totals)):
            table = _arrow_table(df)
            for fmt in ("parquet", "csv"):
                paths[f"{name}_{fmt}"] = str(self._write_table(table, name, fmt))
        manifest = self._manifest(complete=True, extra={
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "result_rows": len(results), "tables": {k: Path(v).name for k, v in paths.items()}})
        _write_atomic(self.dir / MANIFEST, manifest.encode())
        return Tables(results=results, totals=totals, paths=paths)

    def _write_table(self, table: Any, name: str, fmt: str) -> Path:
        """Write an Arrow table as DIR/<name>.<fmt> (parquet or csv), atomically."""
        final = self.dir / f"{name}.{fmt}"
        tmp = self.dir / f".{name}.{os.getpid()}.{fmt}.tmp"
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                pq.write_table(table, tmp)
            else:
                import pyarrow.csv as pacsv

                pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise os_error(final, exc, "write") from None
        return final


def _arrow_table(df: Any) -> Any:
    """`df` as one Arrow table, from which both its Parquet and its CSV file are written
    (Arrow's CSV writer is C++, ~10x pandas' on these tables: it is the serial tail of a sweep).
    The Parquet file keeps the pandas metadata, so `load_tables` gives back `df` exactly; the
    CSV writes booleans as true/false, floats in shortest round-trip form and a missing value
    as an empty field."""
    import pyarrow as pa

    return pa.Table.from_pandas(df, preserve_index=False)


def load_tables(out_dir: str | Path) -> Tables:
    """Read the consolidated tables of a finished sweep folder (for plots and reports)."""
    import pandas as pd

    folder = Path(out_dir)
    paths = {}
    frames = {}
    for name in (RESULTS, TOTALS):
        parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
        table = parquet if parquet.is_file() else csv
        if table.is_file():
            try:
                frames[name] = pd.read_parquet(table) if table is parquet else pd.read_csv(table)
            except Exception as exc:  # noqa: BLE001 (ArrowInvalid, ParserError, OSError, ...: a damaged file)
                raise UserError(f"{table}: cannot read the sweep table ({type(exc).__name__}: "
                                f"{shown(str(exc), 120)}); re-run the sweep to rebuild it") from None
            paths[f"{name}_{table.suffix[1:]}"] = str(table)
        else:
            raise UserError(f"{folder}: no {name}.parquet or {name}.csv; is it a finished sweep folder "
                            "(run `imsim sweep SPEC --out DIR` to finish it)?")
    return Tables(results=frames[RESULTS], totals=frames[TOTALS], paths=paths)
