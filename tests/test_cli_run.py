"""`imsim run`: output formats and one-line user errors (exit 2)."""
import json
from pathlib import Path

import numpy as np
import pytest

from imsim.cli import main

HW = str(Path(__file__).resolve().parents[1] / "hw_configs" / "default.yaml")


def _run(capsys, *argv):
    code = main(["run", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_output(capsys):
    code, out, err = _run(capsys, "--hw", HW, "--gemm", "40,48,24", "--set", "rows=8", "--set", "cols=8")
    assert code == 0, err
    assert "gemm_40x48x24" in out and "TOTAL" in out and "stall_cycles" in out


def test_json_is_one_object(capsys):
    code, out, err = _run(capsys, "--hw", HW, "--gemm", "40,48,24", "--bits", "4", "--set", "dataflow=is",
                          "--seed", "3", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"hw", "gemms", "total"}
    g = doc["gemms"][0]
    assert doc["hw"]["a_bits"] == 4 and doc["hw"]["w_bits"] == 4 and doc["hw"]["dataflow"] == "is"
    assert g["exact"] is True and g["M"] == 40 and g["unpack_ratio"] >= 1.0
    assert doc["total"]["cycles"] == g["cycles"]


def test_seeded_operands_are_reproducible(capsys):
    a = _run(capsys, "--hw", HW, "--gemm", "20,20,20", "--seed", "5", "--json")[1]
    b = _run(capsys, "--hw", HW, "--gemm", "20,20,20", "--seed", "5", "--json")[1]
    assert json.loads(a)["gemms"][0]["macs"] == json.loads(b)["gemms"][0]["macs"]


def test_heavy_zero_runs_with_strategy_none(capsys):
    code, out, err = _run(capsys, "--hw", HW, "--gemm", "33,20,17", "--heavy", "0", "--strategy", "none", "--json")
    assert code == 0, err
    g = json.loads(out)["gemms"][0]
    assert g["unpack_ratio"] == 1.0 and g["exact"] is True


def test_no_exact_skips_execution(capsys):
    code, out, _ = _run(capsys, "--hw", HW, "--gemm", "16,16,16", "--no-exact", "--json")
    assert code == 0 and json.loads(out)["gemms"][0]["exact"] is None


@pytest.mark.parametrize("argv,needle", [
    (["--gemm", "64,64,64", "--strategy", "none"], "--strategy row, col, both or auto"),
    (["--gemm", "64,64"], "--gemm"),
    (["--gemm", "8,8,8", "--set", "rowz=3"], "rowz"),
    (["--gemm", "8,8,8", "--set", "rows=0"], "rows"),
    (["--gemm", "8,8,8", "--bits", "17"], "--bits"),
    (["--gemm", "8,8,8", "--heavy", "2"], "--heavy"),
    (["--gemm", "8,8,8", "--beta", "0"], "--beta"),
    (["--gemm", "8,8,8", "--set", "acc_bits=16", "--bits", "8"], "acc_bits"),
    (["--gemm", "8,256,8", "--heavy", "0", "--set", "acc_bits=15"], "overflow"),
    (["--gemm", "8,8,8", "--timing", "fast"], "timing"),
])
def test_user_errors_exit_2_with_one_line(capsys, argv, needle):
    code, out, err = _run(capsys, "--hw", HW, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("imsim: error:")
    assert needle in err
    assert "Traceback" not in err


def test_missing_hw_file(capsys, tmp_path):
    code, _, err = _run(capsys, "--hw", str(tmp_path / "nope.yaml"), "--gemm", "8,8,8")
    assert code == 2 and "nope.yaml" in err and err.count("\n") == 1


def test_trace(capsys, tmp_path):
    fmt = pytest.importorskip("imsim.trace.format")
    rng = np.random.default_rng(0)
    recs = [fmt.make_record(rng.standard_normal((12, 16)), rng.standard_normal((16, 8)), name=f"l{i}",
                            kind="linear", model="toy") for i in range(2)]
    path = fmt.save_trace(tmp_path / "t.npz", recs)
    code, out, err = _run(capsys, "--hw", HW, "--trace", str(path), "--set", "rows=8", "--set", "cols=8", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [g["name"] for g in doc["gemms"]] == ["l0", "l1"]
    assert doc["total"]["gemms"] == 2 and doc["total"]["exact"] is True


def test_format_sets_widths_and_stays_exact(capsys):
    code, out, _ = _run(capsys, "--hw", HW, "--gemm", "16,32,8", "--format", "e2m3", "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["hw"]["a_bits"] == 5 and obj["hw"]["w_bits"] == 5  # e2m3 significand width
    assert obj["total"]["exact"] is True


def test_format_user_errors(capsys):
    for argv, needle in ((["--format", "e9m9"], "e9m9"), (["--format", "e2m3", "--beta", "0.9"], "--beta"),
                         (["--w-format", "e2m3"], "--format")):
        code = main(["run", "--hw", HW, "--gemm", "4,4,4", *argv])
        err = capsys.readouterr().err.strip()
        assert code == 2 and needle in err and len(err.splitlines()) == 1


def test_bundled_trace_runs(capsys):
    code, out, _ = _run(capsys, "--hw", HW, "--trace", "bundled", "--bits", "4", "--beta", "0.99",
                     "--no-exact", "--json")
    obj = json.loads(out)
    assert code == 0 and len(obj["gemms"]) > 10
    assert obj["total"]["unpack_ratio"] > 1.0


# ---- output a reader can trust (issue 16) ------------------------------------------------------
def test_without_hw_the_default_design_runs_and_its_name_records_overrides(capsys):
    assert main(["run", "--gemm", "16,16,16", "--bits", "4", "--set", "rows=16", "--heavy", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("hw: default+rows=16+a_bits=4+w_bits=4 ")
    assert "auto: none needed" in out  # --heavy 0: the operands fit, nothing was unpacked
    assert main(["run", "--gemm", "16,16,16", "--json"]) == 0
    from imsim.hwconfig import load_hw_config

    assert json.loads(capsys.readouterr().out)["hw"] == load_hw_config(HW).to_dict()  # as default.yaml promises


def test_exact_says_not_run_when_execution_is_skipped(capsys):
    assert main(["run", "--gemm", "16,16,16", "--bits", "4", "--no-exact"]) == 0
    def rows(out: str) -> list[str]:  # the table's rows: after the header lines and the ---- rule
        lines = out.splitlines()
        return lines[next(i for i, line in enumerate(lines) if line.startswith("---")) + 1:]

    body = rows(capsys.readouterr().out)
    assert len(body) == 2 and all(line.rstrip().endswith("not run") for line in body)
    assert main(["run", "--gemm", "16,16,16", "--bits", "4"]) == 0
    body = rows(capsys.readouterr().out)
    assert len(body) == 2 and all(line.rstrip().endswith("True") for line in body)
    assert "auto(" in body[0]  # auto says what it chose


def test_display_words_for_exactness():
    from imsim.cli.display import combined_exact_text, exact_text

    assert [exact_text(True, True), exact_text(False, True), exact_text(None, True), exact_text(None, False)] == \
        ["True", "False", "unchecked", "not run"]
    assert combined_exact_text(["True", "unchecked"]) == "unchecked"
    assert combined_exact_text(["True", "False", "not run"]) == "False"
    assert combined_exact_text(["not run", "not run"]) == "not run"
    assert combined_exact_text(["True", "True"]) == "True"
    assert exact_text(None, True, status="not run") == "not run"  # exact_status wins when given
    assert exact_text(None, True, status="unchecked") == "unchecked"


def _small_trace(tmp_path):
    from imsim.trace.synthetic import synthetic_trace

    return str(synthetic_trace([(8, 16, 8), (4, 16, 12), (8, 16, 8)], heavy_fraction=0.05,
                               path=tmp_path / "t.npz").path)


def test_trace_prints_totals_by_kind_and_phase_unless_per_gemm(capsys):
    code, out, err = _run(capsys, "--hw", HW, "--trace", "bundled", "--no-exact", "--set", "rows=8",
                          "--set", "cols=8")
    assert code == 0, err
    lines = out.splitlines()
    assert "93 GEMMs" in out and "attn_qk_grad" in out and "TOTAL" in out
    assert "encoder.layer.0" not in out and len(lines) < 20  # one screen
    code, out, err = _run(capsys, "--hw", HW, "--trace", "bundled", "--no-exact", "--per-gemm",
                          "--set", "rows=8", "--set", "cols=8")
    assert code == 0 and "encoder.layer.0.attention.self.query" in out and len(out.splitlines()) > 93


def test_out_streams_the_same_rows_as_json(capsys, tmp_path):
    import pyarrow.parquet as pq

    trace = _small_trace(tmp_path)
    code, out, err = _run(capsys, "--hw", HW, "--trace", trace, "--json", "--out", str(tmp_path / "r.parquet"))
    assert code == 0, err
    gemms = json.loads(out)["gemms"]
    rows = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert [r["name"] for r in rows] == [g["name"] for g in gemms] == ["synthetic0", "synthetic1", "synthetic2"]
    assert [r["cycles"] for r in rows] == [g["cycles"] for g in gemms]
    assert all(r["exact"] is True for r in rows)


def test_out_must_be_a_parquet_file(capsys, tmp_path):
    code, _, err = _run(capsys, "--hw", HW, "--trace", _small_trace(tmp_path), "--out", str(tmp_path / "r.csv"))
    assert code == 2 and "--out" in err and ".parquet" in err and len(err.strip().splitlines()) == 1


def test_progress_bar_on_a_terminal_stderr(tmp_path):
    """On a terminal, a trace run draws a tqdm bar on stderr (off when stderr is a pipe or file)."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    trace = _small_trace(tmp_path)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    proc = subprocess.run([sys.executable, "-m", "imsim", "run", "--hw", HW, "--trace", trace],
                          stdout=subprocess.PIPE, stderr=follower, timeout=120)
    os.close(follower)
    err = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(leader)
    assert proc.returncode == 0
    text = err.decode(errors="replace")
    assert "imsim run" in text and "3/3" in text and "gemm" in text


def test_trace_runs_in_bounded_memory(capsys, tmp_path, monkeypatch):
    """Results stream (running totals, --out row groups of BATCH_ROWS): what grows with the number
    of GEMMs is only the trace's index (its headers, ~3 KB a GEMM), not operands (64 KB each
    here) nor results (keeping every result, as --per-gemm does, adds ~7 KB a GEMM)."""
    import tracemalloc

    import imsim.result_writer
    from imsim.trace.synthetic import synthetic_trace

    monkeypatch.setattr(imsim.result_writer, "BATCH_ROWS", 4)  # the one bounded buffer, made small
    peaks = {}
    for n in (4, 4, 40):  # the first run imports and warms the caches; not compared
        trace = synthetic_trace([(64, 256, 64)] * n, heavy_fraction=0.01, path=tmp_path / f"t{n}.npz").path
        tracemalloc.start()
        code, out, err = _run(capsys, "--hw", HW, "--trace", str(trace), "--out", str(tmp_path / f"r{n}.parquet"))
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert code == 0, err
        assert f"{n} GEMMs" in out
    per_gemm = (peaks[40] - peaks[4]) / 36
    assert per_gemm < 5000, peaks


def test_errors_on_every_row_independent_of_width_and_exact(tmp_path, capsys):
    from imsim.trace.synthetic import synthetic_trace

    path = tmp_path / "t.npz"
    synthetic_trace([(8, 24, 6), (1, 16, 5)], 0.02, seed=4, path=path)
    errs = []
    for extra in (["--bits", "2"], ["--bits", "16", "--strategy", "none", "--no-exact"]):
        assert main(["run", "--hw", "hw_configs/default.yaml", "--trace", str(path), "--beta", "0.99",
                     "--levels", "15", "--json", *extra]) == 0
        out = json.loads(capsys.readouterr().out)
        assert all(g["levels"] == g["w_levels"] == 15 and g["quantizer"] == "paper" for g in out["gemms"])
        errs.append([(g["rel_error"], g["sqnr_db"], g["max_abs_error"]) for g in out["gemms"]])
        assert out["total"]["rel_error"] > 0
    assert errs[0] == errs[1]


def test_gemm_with_levels_only_uses_rtn_at_beta_one(capsys):
    assert main(["run", "--hw", "hw_configs/default.yaml", "--gemm", "16,32,8", "--bits", "4", "--levels", "31",
                 "--no-exact", "--json"]) == 0
    g = json.loads(capsys.readouterr().out)["gemms"][0]
    assert (g["quantizer"], g["beta"], g["levels"], g["w_levels"]) == ("paper", 1.0, 31, 31)
    assert main(["run", "--hw", "hw_configs/default.yaml", "--gemm", "16,32,8", "--bits", "4", "--json"]) == 0
    g = json.loads(capsys.readouterr().out)["gemms"][0]
    assert g["quantizer"] is None and g["rel_error"] > 0  # body-max scaling, error still measured
