"""Limits checked before anything is expanded or allocated (imsim/limits.py, issue 17 item 3).

The two timing tests hold the issue's acceptance bounds (10^9 points refused in < 1 s, a
10^5-point --dry-run in < 5 s) on CPU time of this process, so a loaded machine does not make
them flaky; the measured figures are far below the bounds (about 0.01 s and 1 s).
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from imsim.cli import main
from imsim.errors import UserError
from imsim.limits import ENV_MAX_MEMORY, GIB, check_gemm, check_memory, gemm_bytes, memory_limit

BAD = Path(__file__).resolve().parent / "data" / "bad"

SPEC_1E5 = """name: big_dry
axes:
  rows: [4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
  cols: [4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
  clock_mhz: [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
  sram_a_kib: [16, 32, 48, 64, 80, 96, 112, 128, 144, 160]
  dram_latency_cycles: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
"""


def _cpu_seconds(argv: list[str]) -> tuple[int, float]:
    start = time.process_time()
    status = main(argv)
    return status, time.process_time() - start


def test_a_1e9_point_sweep_is_refused_in_under_a_second(tmp_path, capsys):
    main(["sweep", str(BAD / "sweep_1e9_points.yaml"), "--out", str(tmp_path / "w"), "--dry-run"])  # warm imports
    capsys.readouterr()
    status, seconds = _cpu_seconds(["sweep", str(BAD / "sweep_1e9_points.yaml"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "1000000000 combinations" in err and "--max-points" in err
    assert seconds < 1.0
    assert not (tmp_path / "o").exists()


def test_a_1e5_point_dry_run_counts_in_under_5_seconds(tmp_path, capsys):
    spec = tmp_path / "big.yaml"
    spec.write_text(SPEC_1E5)
    status, seconds = _cpu_seconds(["sweep", str(spec), "--out", str(tmp_path / "o"), "--dry-run"])
    assert status == 0, capsys.readouterr().err
    assert "big_dry: 100000 points (100000 combinations before filters)" in capsys.readouterr().out
    assert seconds < 5.0
    assert not (tmp_path / "o").exists()


def test_max_points_is_the_cap(tmp_path, capsys):
    spec = tmp_path / "big.yaml"
    spec.write_text(SPEC_1E5)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--dry-run", "--max-points", "99999"]) == 2
    assert "100000 combinations" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--dry-run", "--max-points", "100000"]) == 0


def test_memory_limit_from_environment(monkeypatch):
    monkeypatch.setenv(ENV_MAX_MEMORY, "0.5")
    assert memory_limit() == GIB // 2
    check_memory(GIB // 2, "x")  # at the limit: allowed
    with pytest.raises(UserError, match=r"x needs about .* above the limit of 0.5 GiB"):
        check_memory(GIB // 2 + 1, "x")
    monkeypatch.setenv(ENV_MAX_MEMORY, "lots")
    with pytest.raises(UserError, match=ENV_MAX_MEMORY):
        memory_limit()


def test_gemm_check_counts_every_operand(monkeypatch):
    monkeypatch.setenv(ENV_MAX_MEMORY, "1")
    assert gemm_bytes(2, 3, 4) == 8 * 4 * (6 + 12 + 8)
    check_gemm(1024, 1024, 1024, "--gemm")
    with pytest.raises(UserError, match=r"--gemm: GEMM 100000x100000x100000 needs about"):
        check_gemm(100_000, 100_000, 100_000, "--gemm")


def test_max_memory_flag_raises_the_limit(monkeypatch, capsys):
    monkeypatch.setenv(ENV_MAX_MEMORY, "8")  # recorded, so the value main() sets is undone afterwards
    monkeypatch.delenv(ENV_MAX_MEMORY)
    assert main(["--max-memory", "-1", "run", "--gemm", "2,2,2"]) == 2
    assert "--max-memory" in capsys.readouterr().err
    assert main(["run", "--hw", "default", "--gemm", "100000,100000,1", "--max-memory", "0.001"]) == 2
    assert "above the limit of 0.001 GiB" in capsys.readouterr().err
