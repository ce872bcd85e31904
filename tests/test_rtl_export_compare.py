"""Golden-vector export (values, files, manifest) and `imsim rtl compare` (no simulator needed)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.array import compute_timing
from imsim.cli import main
from imsim.errors import UserError
from imsim.hwconfig import HwConfig
from imsim.quantize import qmax
from imsim.rtl.golden import build_golden, random_int_gemm, scale_passes
from imsim.rtl.hexfile import read_hex


def _hw_file(tmp: Path, **keys) -> Path:
    cfg = {"rows": 4, "cols": 4, "a_bits": 4, "w_bits": 4, "acc_bits": 20, **keys}
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "hw.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in cfg.items()))
    return path


def _export(tmp: Path, *extra: str, **keys) -> Path:
    out = tmp / "exp"
    code = main(["rtl", "export", "--hw", str(_hw_file(tmp, **keys)), "--out", str(out), *extra])
    assert code == 0
    return out


# ---------------------------------------------------------------- golden values


@settings(max_examples=25, deadline=None)
@given(bits=st.sampled_from([2, 3, 4, 8]), strategy=st.sampled_from(["row", "col", "both", "auto"]),
       M=st.integers(1, 9), K=st.integers(1, 9), N=st.integers(1, 9), seed=st.integers(0, 10**6))
def test_golden_is_exact_and_in_range(bits, strategy, M, K, N, seed) -> None:
    A, B = random_int_gemm(M, K, N, bits, bits, seed=seed, heavy_fraction=0.3)
    g = build_golden(A, B, HwConfig(rows=4, cols=4, a_bits=bits, w_bits=bits, acc_bits=40), strategy)
    assert np.array_equal(g.C, A.astype(object) @ B.astype(object))
    assert np.abs(g.A).max() <= qmax(bits) and np.abs(g.B).max() <= qmax(bits)
    # passes tile K' contiguously, each a plain product of its K positions
    assert g.passes[0].k_start == 0 and sum(p.k_len for p in g.passes) == g.A.shape[1]
    shifts = [p.shift_bits for p in g.passes]
    assert shifts == sorted(set(shifts))
    for p, kp in enumerate(g.passes):
        ks = slice(kp.k_start, kp.k_start + kp.k_len)
        assert np.array_equal(g.psum[p], g.A[:, ks] @ g.B[ks, :])
    # recombination from the PE results alone rebuilds C
    P = sum(g.psum[p].astype(object) * (1 << kp.shift_bits) for p, kp in enumerate(g.passes))
    C = np.zeros(g.C.shape, dtype=object)
    for i in range(P.shape[0]):
        for j in range(P.shape[1]):
            C[g.plan.row_src[i], g.plan.col_src[j]] += P[i, j] << int(g.plan.row_shift[i] + g.plan.col_shift[j])
    assert np.array_equal(C, g.C)


def test_scale_passes_group_stably() -> None:
    order, passes = scale_passes(np.array([3, 0, 3, 6, 0]))
    assert order.tolist() == [1, 4, 0, 2, 3]
    assert [(p.shift_bits, p.k_start, p.k_len) for p in passes] == [(0, 0, 2), (3, 2, 2), (6, 4, 1)]


def test_accumulator_too_narrow_is_a_user_error() -> None:
    A, B = random_int_gemm(4, 64, 4, 8, 8, seed=1, heavy_fraction=0.0)
    with pytest.raises(UserError, match=r"acc_bits = 15: PE-level results \(psum\) span .* needs \d+ bits"):
        build_golden(A, B, HwConfig(rows=4, cols=4, a_bits=8, w_bits=8, acc_bits=15), "row")


# ---------------------------------------------------------------- export files


def test_export_files_and_manifest(tmp_path: Path, capsys) -> None:
    out = _export(tmp_path, "--gemm", "9,7,6", "--strategy", "col", "--seed", "3", "--json")
    summary = json.loads(capsys.readouterr().out)
    man = json.loads((out / "manifest.json").read_text())
    m, k, n = man["unpack"]["M_low"], man["unpack"]["K_low"], man["unpack"]["N_low"]
    P = len(man["passes"])
    assert (summary["M_low"], summary["K_low"], summary["N_low"]) == (m, k, n)
    expect = {"a": ([m, k], 4), "b": ([k, n], 4), "psum": ([P, m, n], 20), "c": ([9, 6], 64)}
    for name, (shape, width) in expect.items():
        entry = man["files"][name]
        assert (entry["shape"], entry["width"], entry["signed"], entry["order"]) == (shape, width, True, "row-major")
        lines = (out / entry["hex"]).read_text().splitlines()
        assert len(lines) == int(np.prod(shape))
        assert all(len(line) == -(-width // 4) and line == line.lower() for line in lines)
        arr = np.load(out / entry["npy"])
        assert list(arr.shape) == shape
        assert np.array_equal(read_hex(out / entry["hex"], width, count=arr.size), arr.ravel())
    passes = read_hex(out / "passes.hex", 32, signed=False, count=2 * P).reshape(P, 2)
    assert passes.tolist() == [[p["k_start"], p["k_len"]] for p in man["passes"]]
    assert man["hw"]["dataflow"] == man["array"]["dataflow"] == "os"
    assert "cycle" in man["array"]["skew"] and man["cycles"]["start_event"] and man["cycles"]["end_event"]
    # one array job per K pass, each a whole GEMM with all its folds (imsim's compute_timing)
    want = [compute_timing(m, p["k_len"], n, 4, 4, "os", "pipelined").cycles for p in man["passes"]]
    assert man["cycles"]["jobs"] == want and man["cycles"]["expected_total"] == summary["cycles"] == sum(want)
    jobs = read_hex(out / "jobs.hex", 32, signed=False, count=7 * len(man["jobs"])).reshape(-1, 7)
    assert jobs.tolist() == [[p, 0, m, q["k_start"], q["k_start"] + q["k_len"], 0, n]
                             for p, q in enumerate(man["passes"])]
    assert man["cycles"]["recomb_ops"] == P * m * n - 9 * 6
    assert man["cycles"]["recomb_expected"] == -(-man["cycles"]["recomb_ops"] // 32)
    assert man["testbench"]["parameters"] == {"DATAFLOW": 0, "OVERLAP": 1, "ROWS": 4, "COLS": 4,
                                              "A_W": 4, "B_W": 4, "ACC_W": 20, "M": m, "K": k,
                                              "N": n, "NPASS": P, "NJOB": P}
    for name, size in (("row_src", m), ("row_shift", m), ("col_src", n), ("col_shift", n),
                       ("pass_shift", P)):
        assert read_hex(out / f"{name}.hex", 32, signed=False, count=size).size == size
    plan = np.load(out / "plan.npz")
    assert plan["k_shift"].tolist() == sorted(plan["k_shift"].tolist())


def test_export_is_deterministic_and_bits_override(tmp_path: Path) -> None:
    a = _export(tmp_path / "1", "--gemm", "5,6,7", "--bits", "3", "--seed", "11")
    b = _export(tmp_path / "2", "--gemm", "5,6,7", "--bits", "3", "--seed", "11")
    assert (a / "psum.hex").read_text() == (b / "psum.hex").read_text()
    man = json.loads((a / "manifest.json").read_text())
    assert man["hw"]["a_bits"] == man["hw"]["w_bits"] == man["files"]["a"]["width"] == 3


def test_export_from_trace(tmp_path: Path) -> None:
    from imsim.trace.format import make_record, save_trace

    rng = np.random.default_rng(0)
    recs = [make_record(rng.normal(size=(5, 8)), rng.normal(size=(8, 3)), name=f"l{i}", kind="linear")
            for i in range(2)]
    save_trace(tmp_path / "t.npz", recs)
    out = _export(tmp_path, "--trace", str(tmp_path / "t.npz"), "--gemm-index", "1", "--beta", "0.9")
    man = json.loads((out / "manifest.json").read_text())
    assert man["gemm"]["name"] == "l1" and (man["gemm"]["M"], man["gemm"]["K"], man["gemm"]["N"]) == (5, 8, 3)
    assert man["gemm"]["gemm_index"] == 1 and man["gemm"]["quantization"]["beta"] == 0.9
    code = main(["rtl", "export", "--hw", str(tmp_path / "hw.yaml"), "--trace", str(tmp_path / "t.npz"),
                 "--gemm-index", "2", "--out", str(tmp_path / "x")])
    assert code == 2


def test_export_bundled_trace_records_quantization_and_unpacking(tmp_path: Path, capsys) -> None:
    out = _export(tmp_path, "--trace", "bundled", "--gemm-index", "3", "--beta", "0.99",
                  "--strategy", "both", "--json", a_bits=2, w_bits=2, acc_bits=16)
    summary = json.loads(capsys.readouterr().out)
    man = json.loads((out / "manifest.json").read_text())
    assert man["gemm"]["trace"] == "bundled" and man["gemm"]["quantization"]["beta"] == 0.99
    assert man["unpack"]["strategy"] == summary["strategy"] == "both"
    assert man["unpack"]["unpack_ratio"] > 1  # b = 2 really unpacks


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("timing", ["pipelined", "scalesim"])
def test_expected_cycles_are_the_memory_models_compute_cycles(tmp_path: Path, dataflow, timing) -> None:
    """Jobs (passes, and temporal bands where the memory model times them) add up to what
    imsim.memory reports as compute_cycles, also when a small C buffer cuts ws/is into bands."""
    from imsim.hwconfig import load_hw_config
    from imsim.memory import MemoryParams, PassShape, simulate_memory

    keys = dict(dataflow=dataflow, rows=4, cols=3, sram_c_kib=0.0625, k_scale="scale_passes")
    out = _export(tmp_path, "--gemm", "23,9,21", "--strategy", "col", "--timing", timing, **keys)
    man = json.loads((out / "manifest.json").read_text())
    hw = load_hw_config(tmp_path / "hw.yaml")
    m, n = man["unpack"]["M_low"], man["unpack"]["N_low"]
    shapes = [PassShape(M=m, K=p["k_len"], N=n, base_rows=0, base_cols=0) for p in man["passes"]]
    mem = simulate_memory(MemoryParams.from_hw(hw), shapes, timing=timing)
    assert man["cycles"]["expected_total"] == mem.compute_cycles
    if dataflow != "os" and timing == "pipelined":
        assert len(man["jobs"]) > len(man["passes"])  # bands exercised
    else:  # os has no bands; scalesim counts whole passes whatever the SRAM sizes (SCALE-Sim)
        assert len(man["jobs"]) == len(man["passes"])


@pytest.mark.parametrize("args,match", [
    (["--gemm", "4,5"], "--gemm = '4,5': must be M,K,N with three integers >= 1"),
    (["--gemm", "4,0,5"], "--gemm = '4,0,5'"),
    (["--gemm", "4,4,4", "--bits", "1"], "--bits = 1"),
    (["--gemm", "4,4,4", "--set", "rows=0"], "rows"),
    (["--gemm", "4,4,4", "--strategy", "diagonal"], "diagonal"),
])
def test_export_user_errors(tmp_path: Path, capsys, args, match) -> None:
    code = main(["rtl", "export", "--hw", str(_hw_file(tmp_path)), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert code == 2 and match in err and err.count("\n") == 1


# ---------------------------------------------------------------- compare


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    return _export(tmp_path, "--gemm", "6,5,7", "--strategy", "both", "--seed", "5")


def test_compare_golden_against_itself(exported: Path, capsys) -> None:
    man = json.loads((exported / "manifest.json").read_text())
    expected = man["cycles"]["expected_total"]
    assert main(["rtl", "compare", str(exported), str(exported / "psum.hex"), "--cycles", str(expected + 3)]) == 0
    out = capsys.readouterr().out
    assert "all" in out and "values match" in out and f"imsim {expected}, difference +3" in out
    assert main(["rtl", "compare", str(exported), str(exported / "psum.hex"), "--cycles", str(expected + 3),
                 "--exact-cycles"]) == 1
    capsys.readouterr()
    assert main(["rtl", "compare", str(exported), str(exported / "c.hex"), "--against", "c", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exact"] and report["target"] == "c" and report["count"] == 42 and report["width"] == 64


def test_compare_reports_first_mismatches(exported: Path, tmp_path: Path, capsys) -> None:
    psum = np.load(exported / "psum.npy")
    width = json.loads((exported / "manifest.json").read_text())["files"]["psum"]["width"]
    lines = (exported / "psum.hex").read_text().splitlines()
    flat = psum.ravel()
    bad = {3: flat[3] + 1, flat.size - 1: -flat[-1] - 1}
    for i, v in bad.items():
        lines[i] = format(int(v) & ((1 << width) - 1), f"0{-(-width // 4)}X")  # upper case is fine
    results = tmp_path / "res.hex"
    results.write_text("// from some RTL\n@0\n" + "\n".join(lines) + "\n")
    assert main(["rtl", "compare", str(exported), str(results), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["mismatches"] == 2 and not report["exact"]
    first = report["first_mismatches"][0]
    p, r, c = np.unravel_index(3, psum.shape)
    assert first == {"index": 3, "position": {"pass": int(p), "row": int(r), "col": int(c)},
                     "expected": int(flat[3]), "got": int(flat[3]) + 1}
    assert main(["rtl", "compare", str(exported), str(results), "--max-report", "1"]) == 1
    out = capsys.readouterr().out
    assert f"2 of {flat.size} psum values differ" in out
    assert f"index 3 (pass={p}, row={r}, col={c}): expected {flat[3]}, got {flat[3] + 1}" in out
    assert f"index {flat.size - 1}" not in out


@pytest.mark.parametrize("mutate,match", [
    (lambda ls: ls[:2] + ["xxxxx"] + ls[3:], r"res.hex:3: value 'xxxxx' has x/z"),
    (lambda ls: ls[:4] + ["0z0z0"] + ls[5:], r"res.hex:5: value '0z0z0' has x/z"),
    (lambda ls: ls[:-1], r"res.hex: holds \d+ values, expected \d+"),
    (lambda ls: ls + ["00000"], r"res.hex: holds \d+ values, expected \d+"),
    (lambda ls: ["0g000"] + ls[1:], r"res.hex:1: value '0g000' is not a hex number"),
    (lambda ls: ["1000000"] + ls[1:], r"res.hex:1: value '1000000' has more than 20 bits"),
])
def test_compare_malformed_results_exit_2(exported: Path, tmp_path: Path, capsys, mutate, match) -> None:
    lines = (exported / "psum.hex").read_text().splitlines()
    results = tmp_path / "res.hex"
    results.write_text("\n".join(mutate(lines)) + "\n")
    assert main(["rtl", "compare", str(exported), str(results)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    import re
    assert re.search(match, captured.err), captured.err


def test_compare_bad_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "r.hex").write_text("0\n")
    assert main(["rtl", "compare", str(tmp_path), str(tmp_path / "r.hex")]) == 2
    assert "manifest.json: not found" in capsys.readouterr().err
    assert main(["rtl", "compare", str(tmp_path), str(tmp_path / "missing.hex")]) == 2


def test_exact_cycles_without_a_cycle_model_is_exit_2(tmp_path: Path, capsys) -> None:
    out = _export(tmp_path, "--gemm", "5,4,5", "--strategy", "row", dataflow="ws")
    man = json.loads((out / "manifest.json").read_text())
    assert man["hw"]["dataflow"] == "ws" and man["cycles"]["expected_total"] > 0
    # an export without a cycle model (e.g. an old manifest) never passes --exact-cycles
    del man["cycles"]["expected_total"]
    (out / "manifest.json").write_text(json.dumps(man))
    assert main(["rtl", "compare", str(out), str(out / "psum.hex"), "--cycles", "10", "--exact-cycles"]) == 2
    err = capsys.readouterr().err
    assert "no imsim cycles model" in err and len(err.strip().splitlines()) == 1
    # and --exact-cycles with no count to check is an error too
    assert main(["rtl", "compare", str(out), str(out / "psum.hex"), "--exact-cycles"]) == 2
    assert "--exact-cycles needs --cycles" in capsys.readouterr().err


def test_sim_user_errors(tmp_path: Path, capsys, monkeypatch) -> None:
    import imsim.rtl.simulator as simulator

    out = _export(tmp_path, "--gemm", "5,4,5", "--strategy", "row")
    monkeypatch.setattr(simulator, "verilator_exe", lambda: None)
    assert main(["rtl", "sim", str(out), "--simulator", "verilator"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "verilator not found" in err[0]
    man = json.loads((out / "manifest.json").read_text())
    man["version"] = 1
    (out / "manifest.json").write_text(json.dumps(man))
    assert main(["rtl", "sim", str(out)]) == 2
    assert "re-export" in capsys.readouterr().err
