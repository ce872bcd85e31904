"""The reference RTL under Icarus Verilog: exported vectors pass it (values exact, cycle counts
equal to imsim's model), through both the cocotb test and the plain Verilog testbench, and a
deliberately broken variant is caught by `imsim rtl compare`.

Skips (with the reason) when iverilog/vvp or cocotb are missing; .ci/run installs both.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from imsim.cli import main
from imsim.hwconfig import HwConfig
from imsim.rtl.compare import compare_export
from imsim.rtl.cycles import tile_cycles
from imsim.rtl.export import ARRAY_SOURCE, TB_SOURCE, write_golden
from imsim.rtl.golden import build_golden, random_int_gemm
from imsim.rtl.hexfile import read_hex
from imsim.rtl.icarus import compile_testbench, icarus_missing, run_testbench

pytestmark = [
    pytest.mark.rtl,
    pytest.mark.skipif(icarus_missing() is not None, reason=f"RTL tests need Icarus Verilog: {icarus_missing()}"),
]

SIZES = (4, 8, 16)
WIDTHS = (2, 3, 4, 8)
STRATEGIES = ("row", "col", "both", "auto")
VARIANTS = [(size, width) for size in SIZES for width in WIDTHS]


def _hw(size: int, width: int) -> HwConfig:
    return HwConfig(name=f"os{size}_w{width}", rows=size, cols=size, a_bits=width, w_bits=width,
                    acc_bits=2 * width + 8)


def _export(tmp: Path, hw: HwConfig, shape: tuple[int, int, int], strategy: str, seed: int,
            heavy: float = 0.05) -> Path:
    A, B = random_int_gemm(*shape, hw.a_bits, hw.w_bits, seed=seed, heavy_fraction=heavy)
    golden = build_golden(A, B, hw, strategy)
    out = tmp / f"{hw.name}_{strategy}_{seed}"
    write_golden(golden, out, hw.dataflow, {"source": "random", "seed": seed}, hw.name)
    return out


def _exports_for(tmp: Path, size: int, width: int) -> list[Path]:
    """Two GEMMs per array: one with partial edge tiles, one with several K passes."""
    hw = _hw(size, width)
    i = VARIANTS.index((size, width))
    return [
        _export(tmp, hw, (size + 3, 5, size - 1), STRATEGIES[i % 4], seed=i),
        _export(tmp, hw, (size - 1, 4, size), "col", seed=100 + i, heavy=0.2),
    ]


@pytest.mark.parametrize("size,width", VARIANTS, ids=[f"{s}x{s}-w{w}" for s, w in VARIANTS])
def test_cocotb_reference_array_matches_imsim(size: int, width: int, tmp_path: Path) -> None:
    runner_mod = pytest.importorskip("cocotb_tools.runner", reason="RTL tests need cocotb 2.x (pip install cocotb==2.1.0)")
    exports = _exports_for(tmp_path, size, width)
    manifests = [json.loads((d / "manifest.json").read_text()) for d in exports]
    assert any(len(m["passes"]) > 1 for m in manifests)  # K scale passes are exercised
    hw = _hw(size, width)
    runner = runner_mod.get_runner("icarus")
    build_dir = tmp_path / "sim_build"
    params = {"ROWS": size, "COLS": size, "A_W": width, "B_W": width, "ACC_W": hw.acc_bits}
    runner.build(sources=[ARRAY_SOURCE], hdl_toplevel="imsim_systolic_os", parameters=params,
                 build_dir=build_dir, build_args=["-g2005"])
    results_xml = runner.test(
        test_module="imsim.rtl.cocotb_tb", hdl_toplevel="imsim_systolic_os", build_dir=build_dir,
        test_dir=tmp_path, results_xml=str((tmp_path / "results.xml").resolve()),
        extra_env={"IMSIM_RTL_EXPORTS": ":".join(str(d) for d in exports)})
    from cocotb_tools.check_results import get_results
    assert get_results(Path(results_xml)) == (1, 0)
    for folder, manifest in zip(exports, manifests):
        cmp = compare_export(folder, folder / "cocotb_results.hex", "psum")
        assert cmp.exact and cmp.count == int(np.prod(manifest["files"]["psum"]["shape"]))
        measured = json.loads((folder / "cocotb_cycles.json").read_text())
        assert measured["total"] == manifest["cycles"]["expected_total"]
        for tile in measured["tiles"]:
            k_len = manifest["passes"][tile["pass"]]["k_len"]
            assert tile["cycles"] == tile_cycles(size, size, k_len)


@pytest.mark.parametrize("size,width", VARIANTS, ids=[f"{s}x{s}-w{w}" for s, w in VARIANTS])
def test_verilog_testbench_passes_compare(size: int, width: int, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder = _exports_for(tmp_path, size, width)[0]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert main(["rtl", "sim", str(folder), "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["tiles"] == manifest["tile_loop"]["tiles"] == len(run["tile_cycles"])
    k_lens = [p["k_len"] for p in manifest["passes"] for _ in range(run["tiles"] // len(manifest["passes"]))]
    assert run["tile_cycles"] == [tile_cycles(size, size, k) for k in k_lens]
    results = Path(run["results"])
    assert results.read_text().startswith("//")  # Icarus's $writememh header comment
    code = main(["rtl", "compare", str(folder), str(results), "--cycles", str(run["cycles"]),
                 "--exact-cycles", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["exact"] and report["cycle_diff"] == 0
    assert report["expected_cycles"] == manifest["cycles"]["expected_total"] == run["cycles"]


def _broken_source(tmp: Path) -> Path:
    """The real array with A zero- instead of sign-extended in every PE."""
    text = ARRAY_SOURCE.read_text()
    good = "{{(ACC_W-A_W){a_in[A_W-1]}}, a_in}"
    assert text.count(good) == 1
    broken = tmp / "systolic_os_zero_extend.v"
    broken.write_text(text.replace(good, "{{(ACC_W-A_W){1'b0}}, a_in}"))
    return broken


def test_broken_rtl_is_caught_with_first_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _export(tmp_path, _hw(4, 4), (6, 5, 7), "row", seed=7)
    manifest = json.loads((folder / "manifest.json").read_text())
    vvp = compile_testbench(manifest["testbench"]["parameters"], tmp_path / "broken.vvp",
                            sources=(_broken_source(tmp_path), TB_SOURCE))
    run = run_testbench(vvp, folder)
    code = main(["rtl", "compare", str(folder), str(run.results), "--cycles", str(run.total_cycles)])
    out = capsys.readouterr().out
    assert code == 1
    got = read_hex(run.results, manifest["files"]["psum"]["width"])
    want = np.load(folder / "psum.npy").ravel()
    first = int(np.flatnonzero(got != want)[0])
    p, r, c = np.unravel_index(first, np.load(folder / "psum.npy").shape)
    line = f"index {first} (pass={p}, row={r}, col={c}): expected {want[first]}, got {got[first]}"
    assert line in out
    assert f"{int(np.count_nonzero(got != want))} of {want.size} psum values differ" in out
    assert "difference +0" in out  # the timing is unaffected by the datapath bug


@pytest.mark.skipif(shutil.which("verilator") is None, reason="Verilator (optional) not on PATH")
def test_verilator_lint_is_clean() -> None:
    for params in ({"ROWS": 4, "COLS": 4, "A_W": 2, "B_W": 2, "ACC_W": 12},
                   {"ROWS": 16, "COLS": 8, "A_W": 8, "B_W": 3, "ACC_W": 24}):
        cmd = ["verilator", "--lint-only", "-Wall", "--top-module", "imsim_systolic_os",
               *[f"-G{k}={v}" for k, v in params.items()], str(ARRAY_SOURCE)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr


def test_cocotb_check_fails_on_broken_rtl(tmp_path: Path) -> None:
    """The cocotb test is not vacuous: the zero-extending variant fails it, naming the first mismatch."""
    runner_mod = pytest.importorskip("cocotb_tools.runner", reason="RTL tests need cocotb 2.x (pip install cocotb==2.1.0)")
    from cocotb_tools.check_results import get_results

    folder = _export(tmp_path, _hw(4, 3), (5, 6, 4), "row", seed=9)
    runner = runner_mod.get_runner("icarus")
    runner.build(sources=[_broken_source(tmp_path)], hdl_toplevel="imsim_systolic_os",
                 parameters={"ROWS": 4, "COLS": 4, "A_W": 3, "B_W": 3, "ACC_W": _hw(4, 3).acc_bits},
                 build_dir=tmp_path / "sim_build", build_args=["-g2005"])
    results_xml = (tmp_path / "results.xml").resolve()
    with pytest.raises(SystemExit):  # cocotb's runner exits under pytest when a test fails
        runner.test(test_module="imsim.rtl.cocotb_tb", hdl_toplevel="imsim_systolic_os",
                    build_dir=tmp_path / "sim_build", test_dir=tmp_path, results_xml=str(results_xml),
                    extra_env={"IMSIM_RTL_EXPORTS": str(folder)})
    assert get_results(results_xml) == (1, 1)
    assert "PE results differ, first at (pass, row, col)" in results_xml.read_text()
