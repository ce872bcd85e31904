"""Heavy-hitter statistics and `imsim trace stats`, including a run with torch blocked."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imsim.cli import main
from imsim.trace import bundled_trace_path, make_record, open_trace, synthetic_trace
from imsim.trace.stats import gemm_stats, operand_stats, trace_stats


def test_operand_stats_counts_entries_rows_and_columns():
    q = np.array([[0, 9, 1], [2, -3, 0], [-8, 100, 0], [1, 1, 1]])
    s = operand_stats(q, 4)  # range +-7
    assert (s.out_entries, s.out_rows, s.out_cols, s.max_abs) == (3, 2, 2, 100)
    assert s.out_of_range_fraction == 3 / 12 and s.rows_fraction == 2 / 4 and s.cols_fraction == 2 / 3


def test_integer_record_unpack_ratio_per_strategy():
    # 100 needs three base-8 digits at 4 bits: row unpacking adds two rows to the one row holding it
    A = np.array([[100, 1], [2, 3]])
    B = np.array([[1, 2], [3, 4]])
    g = gemm_stats(make_record(A, B, name="x", kind="linear"), a_bits=4, strategies=("row", "col"))
    assert g.a.out_entries == 1 and g.b.out_entries == 0
    assert g.unpack_ratio["row"] == pytest.approx((2 + 2) / 2)
    assert g.unpack_ratio["col"] == pytest.approx((2 + 2) / 2)
    clean = gemm_stats(make_record(np.eye(2, dtype=int), B, name="y", kind="linear"), a_bits=4)
    assert clean.unpack_ratio == {"row": 1.0, "col": 1.0, "both": 1.0}


def test_synthetic_heavy_hitters_are_found_where_they_were_put():
    frac, K = 0.002, 256
    tr = synthetic_trace([(512, K, 64)], frac, seed=1, channel_concentration=4)
    beta = 1 - frac * 3
    g = gemm_stats(tr[0], a_bits=8, beta=beta)
    planted = round(frac * 512 * K)
    assert planted <= g.a.out_entries <= (1 - beta) * 512 * K + 1
    assert g.b.out_entries <= (1 - beta) * K * 64 + 1
    assert g.a.out_cols >= 4 and g.unpack_ratio["col"] < g.unpack_ratio["row"]
    one = gemm_stats(tr[0], a_bits=8, beta=1.0)
    # the paper's quantizer (d = 255) sends max |x| to 127.5 -> 128: one past the 8-bit range
    assert one.a.max_abs == 128 and one.a.out_entries == one.a.out_rows == one.a.out_cols == 1


def test_pooled_kinds_weight_by_macs():
    tr = synthetic_trace([(64, 32, 8), (8, 32, 64), (16, 16, 16)], 0.01, seed=2)
    recs = [tr[0], tr[1], make_record(tr[2].A, tr[2].B, name="z", kind="attn_qk")]
    s = trace_stats(recs, 4, beta=0.99)
    lin = next(k for k in s.kinds if k.kind == "linear")
    assert lin.gemms == 2 and s.total.gemms == 3
    want = (s.gemms[0].low_macs["both"] + s.gemms[1].low_macs["both"]) / (s.gemms[0].macs + s.gemms[1].macs)
    assert lin.unpack_ratio["both"] == pytest.approx(want)
    assert s.total.macs == sum(r.macs for r in recs)
    d = s.to_dict()
    assert d["total"]["a_out_of_range_fraction"] == pytest.approx(
        sum(g.a.out_entries for g in s.gemms) / sum(r.shape[0] * r.shape[1] for r in recs))


def test_cli_stats_json_on_bundled_trace(capsys):
    assert main(["trace", "stats", "--bits", "4", "--beta", "0.99", "--strategy", "all", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    tr = open_trace(bundled_trace_path())
    assert out["total"]["gemms"] == len(out["gemms"]) == len(tr)
    assert out["a_bits"] == out["w_bits"] == 4 and out["beta"] == 0.99
    kinds = {k["kind"] for k in out["kinds"]}
    assert {"linear", "grad_input", "grad_weight", "attn_qk"} <= kinds
    lin = next(k for k in out["kinds"] if k["kind"] == "linear")
    assert 1.0 < lin["unpack_ratio_both"] < 4.0
    assert 0.0 < lin["a_rows_fraction"] <= 1.0 and lin["a_cols_fraction"] < lin["a_rows_fraction"]
    g = out["gemms"][0]
    assert {"M", "K", "N", "unpack_ratio_row", "unpack_ratio_col", "b_cols_fraction"} <= set(g)


def test_cli_text_table_and_list(capsys):
    assert main(["trace", "stats", "--per-gemm", "--strategy", "row,both"]) == 0
    text = capsys.readouterr().out
    assert "unpack_ratio_both" in text and "total" in text and "encoder.layer.0" in text
    assert main(["trace", "list", "bundled", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["gemms"] == len(open_trace(bundled_trace_path()))


@pytest.mark.parametrize("argv", [["--beta", "0"], ["--beta", "x"], ["--bits", "1"], ["--strategy", "diag"], ["--strategies", "diag"]])
def test_cli_bad_flags_are_one_line_errors(argv, capsys):
    assert main(["trace", "stats", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("imsim: error:")


def test_stats_run_on_bundled_trace_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from imsim.cli import main\n"
        "status = main(['trace', 'stats', '--bits', '8', '--json'])\n"
        "import imsim.trace, imsim.trace.stats\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None and m.split('.')[0] == 'torch']\n"
        "sys.exit(status)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["total"]["gemms"] > 0 and out["total"]["macs"] > 0
    hw = Path(__file__).resolve().parents[1] / "hw_configs" / "default.yaml"
    if hw.is_file():  # the main job: every bundled GEMM simulated, without torch
        run = ("import sys; sys.modules['torch'] = None\nfrom imsim.cli import main\n"
               f"sys.exit(main(['run', '--hw', {str(hw)!r}, '--trace', {str(bundled_trace_path())!r}, "
               "'--beta', '0.99', '--no-exact', '--json']))")
        proc = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert len(json.loads(proc.stdout)["gemms"]) == out["total"]["gemms"]
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.modules['torch'] = None\n"
                           "from imsim.cli import main; sys.exit(main(['capture', 'minilm', '--out', 'x']))"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "torch" in proc.stderr and proc.stderr.count("\n") == 1


def test_stats_take_levels_quantizer_digits_and_report_error():
    tr = synthetic_trace([(16, 32, 8)], 0.01, seed=5)
    coarse = trace_stats(tr, 4, beta=0.99, levels=7, digits="floor")
    fine = trace_stats(tr, 4, beta=0.99, levels=255)
    d = coarse.to_dict()
    assert d["levels"] == 7 and d["digits"] == "floor" and d["quantizer"] == "paper"
    assert d["total"]["rel_error"] > fine.to_dict()["total"]["rel_error"] > 0
    # more levels on a 4-bit array: more heavy hitters, more unpacking
    assert fine.total.unpack_ratio["row"] > coarse.total.unpack_ratio["row"]
    sym = trace_stats(tr, 4, beta=1.0, quantizer="symmetric")
    assert sym.total.a.out_entries == 0  # symmetric: alpha lands on 2^(b-1) - 1
