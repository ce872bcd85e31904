"""Per-GEMM result rows written to a Parquet file as they come (bounded memory on any trace).

    with ResultWriter("out.parquet") as w:
        for result in ...: w.write(result.to_dict())

Rows are buffered `batch_rows` at a time and each batch becomes one Parquet row group, so a
run holds at most one batch in memory and an interrupted run leaves every earlier batch in a
file that pyarrow can read once closed. The column types are fixed by the first row; columns
that are None there (exact when execution is off, first_mismatch) take their declared type.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from imsim.errors import UserError

BATCH_ROWS = 256
# columns that can be None, with the type they hold otherwise
NULLABLE_TYPES = {"exact": "bool_", "first_mismatch": "string"}


class ResultWriter:
    """Streams dict rows (GemmResult.to_dict()) into one Parquet file at `path`."""

    def __init__(self, path: str | Path, batch_rows: int | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix != ".parquet":
            raise UserError(f"--out {self.path}: the per-GEMM results file must end in .parquet")
        if not self.path.parent.is_dir():
            raise UserError(f"--out {self.path}: folder {self.path.parent} does not exist")
        self.batch_rows = batch_rows or BATCH_ROWS
        self.rows_written = 0
        self._buffer: list[dict[str, Any]] = []
        self._writer = None
        self._schema = None

    def write(self, row: dict[str, Any]) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._schema is None:
            self._schema = _schema(pa, self._buffer[0])
            try:
                self._writer = pq.ParquetWriter(self.path, self._schema)
            except OSError as exc:
                raise UserError(f"--out {self.path}: cannot write ({exc.strerror or exc})") from None
        table = pa.Table.from_pylist(self._buffer, schema=self._schema)
        self._writer.write_table(table)
        self.rows_written += len(self._buffer)
        self._buffer.clear()

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "ResultWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _schema(pa: Any, row: dict[str, Any]) -> Any:
    inferred = pa.Table.from_pylist([row]).schema
    fields = []
    for f in inferred:
        if pa.types.is_null(f.type):
            f = pa.field(f.name, getattr(pa, NULLABLE_TYPES.get(f.name, "string"))())
        fields.append(f)
    return pa.schema(fields)
