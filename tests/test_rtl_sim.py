"""The reference design under Icarus Verilog: for os/ws/is x pipelined/scalesim, random GEMMs
(ragged edges, non-square arrays, widths 2..8) give exact PE results and C, and whole-GEMM
cycle counts equal to imsim's model (compute_cycles, recomb_busy_cycles); vectors exported from
the bundled trace with unpacking pass the full design check; deliberately broken RTL is caught.

Skips (with the reason) when iverilog/vvp are missing, except in CI (tests/conftest.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imsim.cli import main
from imsim.hwconfig import HwConfig
from imsim.rtl.compare import compare_export, load_manifest
from imsim.rtl.export import ARRAY_SOURCES, RECOMB_SOURCE, RECOMB_TB_SOURCE, TB_SOURCE, write_golden
from imsim.rtl.golden import build_golden, random_int_gemm
from imsim.rtl.runs import run_array, run_design
from imsim.rtl.simulator import icarus_missing

pytestmark = [
    pytest.mark.rtl,
    pytest.mark.skipif(icarus_missing() is not None, reason=f"RTL tests need Icarus Verilog: {icarus_missing()}"),
]

DATAFLOWS = ("os", "ws", "is")
TIMINGS = ("pipelined", "scalesim")


def _hw(dataflow: str, rows: int, cols: int, bits: int, lanes: int = 3, **keys) -> HwConfig:
    return HwConfig(name=f"{dataflow}{rows}x{cols}w{bits}", rows=rows, cols=cols, a_bits=bits,
                    w_bits=bits, acc_bits=2 * bits + 12, recomb_acc_bits=64, dataflow=dataflow,
                    k_scale="scale_passes", recomb_lanes=lanes, **keys)


def _export(out: Path, hw: HwConfig, shape: tuple[int, int, int], strategy: str, seed: int,
            timing: str, heavy: float = 0.2) -> dict:
    A, B = random_int_gemm(*shape, hw.a_bits, hw.w_bits, seed=seed, heavy_fraction=heavy)
    golden = build_golden(A, B, hw, strategy)
    return write_golden(golden, out, hw, {"source": "random", "seed": seed}, timing)


def _check_design(out: Path, manifest: dict, **sources) -> None:
    arr, rec = run_design(out, manifest, **sources)
    cyc = manifest["cycles"]
    assert list(arr.job_cycles) == cyc["jobs"], (arr.events, cyc["jobs"])
    assert rec.cycles == cyc["recomb_expected"] and rec.ops == cyc["recomb_ops"]
    psum = compare_export(out, arr.results, "psum")
    c = compare_export(out, rec.results, "c")
    assert psum.exact, psum.first[:3]
    assert c.exact, c.first[:3]


@pytest.mark.parametrize("timing", TIMINGS)
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(1, 6), cols=st.integers(2, 6), bits=st.integers(2, 8),
       M=st.integers(1, 14), K=st.integers(1, 14), N=st.integers(1, 14),
       strategy=st.sampled_from(["row", "col", "both", "auto"]), lanes=st.integers(1, 5),
       seed=st.integers(0, 10**6))
def test_random_gemms_exact_with_model_cycles(tmp_path_factory, dataflow, timing, rows, cols, bits,
                                              M, K, N, strategy, lanes, seed) -> None:
    out = tmp_path_factory.mktemp(f"{dataflow}_{timing}")
    hw = _hw(dataflow, rows, cols, bits, lanes)
    manifest = _export(out, hw, (M, K, N), strategy, seed, timing)
    _check_design(out, manifest)


@pytest.mark.parametrize("dataflow", ["ws", "is"])
def test_temporal_bands_and_bubbles(tmp_path: Path, dataflow) -> None:
    """A C buffer too small for a column fold's partial sums cuts ws/is into bands (several jobs
    per pass, each with its own fill); a short stream (T < rows) leaves bubbles between folds."""
    hw = _hw(dataflow, 5, 3, 4, sram_c_kib=0.0625)
    manifest = _export(tmp_path, hw, (29, 12, 27), "col", 7, "pipelined")
    assert len(manifest["jobs"]) > len(manifest["passes"])
    _check_design(tmp_path, manifest)
    hw = _hw(dataflow, 6, 2, 3)
    manifest = _export(tmp_path / "short", hw, (2, 13, 3), "row", 8, "pipelined")
    _check_design(tmp_path / "short", manifest)


@pytest.mark.parametrize("bits,levels", [(2, 15), (4, 31)])
def test_bundled_trace_with_unpacking_full_design(tmp_path: Path, capsys, bits, levels) -> None:
    """Vectors from the bundled trace (attention GEMM 3), unpacked at b = 2 and b = 4: array and
    recombination unit, `--against c` with exact cycles, through the CLI."""
    out = tmp_path / "vec"
    assert main(["rtl", "export", "--hw", "edge_16x16_int4", "--set", "rows=8", "--set", "cols=8",
                 "--bits", str(bits), "--trace", "bundled", "--gemm-index", "3", "--beta", "0.99",
                 "--levels", str(levels), "--strategy", "auto", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    man = load_manifest(out)
    assert man["gemm"]["quantization"]["levels"] == levels and man["gemm"]["quantization"]["beta"] == 0.99
    assert man["unpack"]["unpack_ratio"] > 1 and summary["recomb_cycles"] > 0
    assert main(["rtl", "sim", str(out), "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert sim["cycles"] == sim["expected_cycles"] == summary["cycles"]
    assert main(["rtl", "compare", str(out), str(out / "c_results.hex"), "--against", "c",
                 "--cycles", str(sim["cycles"]), "--recomb-cycles", str(sim["recomb_cycles"]),
                 "--exact-cycles"]) == 0
    assert "all 256 c values match" in capsys.readouterr().out


def _patched(tmp: Path, source: Path, old: str, new: str) -> Path:
    text = source.read_text()
    assert text.count(old) == 1, old
    out = tmp / source.name
    out.write_text(text.replace(old, new))
    return out


def _broken_run(tmp: Path, dataflow: str, source: Path, old: str, new: str, capsys) -> tuple[int, str]:
    """Export, run the array with one source patched, compare PE results with --exact-cycles."""
    out = tmp / "vec"
    manifest = _export(out, _hw(dataflow, 4, 3, 4), (9, 6, 7), "col", 3, "pipelined")
    patched = _patched(tmp, source, old, new)
    srcs = [patched if s == source else s for s in (*ARRAY_SOURCES[dataflow], TB_SOURCE)]
    arr = run_array(out, manifest, sources=srcs)
    code = main(["rtl", "compare", str(out), str(arr.results), "--cycles", str(arr.cycles),
                 "--exact-cycles"])
    return code, capsys.readouterr().out


def test_dropped_skew_stage_is_caught(tmp_path: Path, capsys) -> None:
    code, text = _broken_run(tmp_path, "os", ARRAY_SOURCES["os"][0],
                             "imsim_delay #(.W(A_W+2), .D(i)) line", "imsim_delay #(.W(A_W+2), .D(i > 1 ? i-1 : i)) line",
                             capsys)
    assert code == 1 and "values differ" in text and "first mismatches" in text
    assert "index " in text and "expected" in text


def test_off_by_one_in_the_overlap_is_caught(tmp_path: Path, capsys) -> None:
    # folds one cycle too close: the next fold's loads overwrite stationary values in use
    code, text = _broken_run(tmp_path, "ws", TB_SOURCE, "period = (tt > ROWS) ? tt : ROWS;",
                             "period = ((tt > ROWS) ? tt : ROWS) - 1;", capsys)
    assert code == 1 and "values differ" in text
    # folds one cycle too far apart: values right, the cycle check fails
    code, text = _broken_run(tmp_path / "late", "os", TB_SOURCE, "period = (tt > ROWS) ? tt : ROWS;",
                             "period = ((tt > ROWS) ? tt : ROWS) + 1;", capsys)
    assert code == 1 and "all" in text and "match" in text and "difference +" in text


def test_wrong_shift_in_recombination_is_caught(tmp_path: Path, capsys) -> None:
    out = tmp_path / "vec"
    manifest = _export(out, _hw("os", 4, 4, 3), (9, 7, 8), "both", 5, "pipelined", heavy=0.3)
    assert len(manifest["passes"]) > 1
    bad = _patched(tmp_path, RECOMB_SOURCE, "sh = pass_shift[p] + row_shift[i] + col_shift[j];",
                   "sh = row_shift[i] + col_shift[j];")
    run_design(out, manifest, recomb_sources=[bad, RECOMB_TB_SOURCE])
    assert main(["rtl", "compare", str(out), str(out / "c_results.hex"), "--against", "c"]) == 1
    text = capsys.readouterr().out
    assert "c values differ" in text and "(row=" in text
