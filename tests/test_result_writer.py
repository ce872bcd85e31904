"""imsim.result_writer: rows streamed to Parquet in batches read back as written."""
from __future__ import annotations

import pytest

from imsim.errors import UserError
from imsim.result_writer import ResultWriter


def _row(i: int, exact) -> dict:
    return {"name": f"g{i}", "cycles": 10 * i, "energy_pj": 0.5 * i, "exact": exact,
            "first_mismatch": None if exact is not False else f"C[0,{i}]: expected 1, got 2"}


def test_batches_become_row_groups_and_read_back(tmp_path):
    path = tmp_path / "r.parquet"
    rows = [_row(i, True) for i in range(7)]
    import pyarrow.parquet as pq

    with ResultWriter(path, batch_rows=3) as w:
        for r in rows:
            w.write(r)
        assert w.rows_written == 6  # two full batches are on disk before the end
    assert pq.ParquetFile(path).num_row_groups == 3
    assert pq.read_table(path).to_pylist() == rows


def test_columns_that_start_as_none_keep_their_type(tmp_path):
    path = tmp_path / "r.parquet"
    rows = [_row(0, None), _row(1, None)]
    rows[1]["first_mismatch"] = "C[0,1]: expected 1, got 2"
    with ResultWriter(path, batch_rows=1) as w:
        for r in rows:
            w.write(r)
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    assert str(table.schema.field("exact").type) == "bool"
    assert table.column("first_mismatch").to_pylist() == [None, "C[0,1]: expected 1, got 2"]
    assert table.column("exact").to_pylist() == [None, None]


@pytest.mark.parametrize("name", ["r.csv", "missing/r.parquet"])
def test_bad_paths_are_user_errors(tmp_path, name):
    with pytest.raises(UserError, match="--out"):
        ResultWriter(tmp_path / name)
