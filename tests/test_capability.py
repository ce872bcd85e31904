"""Plain designs: charged for nothing they lack, and refusing GEMMs that need it (exit 2)."""
import subprocess
import sys

import numpy as np
import pytest

from imsim.area import area_of_design
from imsim.errors import UserError
from imsim.hwconfig import HwConfig, load_hw_config
from imsim.simulate import simulate_gemm
from imsim.unpack import unpack_gemm

PLAIN = dict(k_scale="none", recomb_lanes=0, unpack_lanes=0)


@pytest.mark.parametrize("bits", [8, 16])
def test_plain_design_is_smaller_than_the_same_array_with_unpack_support(bits):
    plain = load_hw_config(f"hw_configs/plain_32x32_int{bits}.yaml")
    full = plain.replace(k_scale="shift_accumulate", recomb_lanes=32, unpack_lanes=32)
    a, b = area_of_design(plain), area_of_design(full)
    assert a.area_um2 < b.area_um2
    assert a.recomb_um2 == 0 and a.unpack_um2 == 0
    assert b.recomb_um2 > 0 and b.unpack_um2 > 0 and b.pe_array_um2 > a.pe_array_um2  # the PE shifter


def test_plain_design_runs_operands_that_fit_and_refuses_heavy_hitters():
    hw = HwConfig(**PLAIN)
    rng = np.random.default_rng(1)
    A = rng.integers(-127, 128, size=(20, 30))
    B = rng.integers(-127, 128, size=(30, 10))
    r = simulate_gemm(hw, unpack_gemm(A, B, 8, 8, "auto"), operands=(A, B))
    assert r.exact and r.unpack_ratio == 1.0 and r.recomb_ops == 0 and r.unpack_ops == 0
    A[3, 7] = 900
    with pytest.raises(UserError, match=r"A has 1 heavy hitter.*A\[3,7\].*unpack_lanes>=1"):
        simulate_gemm(hw, unpack_gemm(A, B, 8, 8, "auto"), operands=(A, B))


def test_each_missing_unit_is_named():
    rng = np.random.default_rng(2)
    A = rng.integers(-127, 128, size=(20, 30))
    B = rng.integers(-127, 128, size=(30, 10))
    A[:, 4] = 5000  # a heavy column: col unpacking needs K scales
    ug = unpack_gemm(A, B, 8, 8, "col")
    with pytest.raises(UserError, match="k_scale=shift_accumulate"):
        simulate_gemm(HwConfig(k_scale="none"), ug, execute=False, operands=(A, B))
    with pytest.raises(UserError, match="unpack_lanes>=1"):
        simulate_gemm(HwConfig(unpack_lanes=0), ug, execute=False, operands=(A, B))
    ok = simulate_gemm(HwConfig(recomb_lanes=0), ug, execute=False, operands=(A, B))  # shift-acc: no passes
    assert ok.recomb_ops == 0


def test_cli_exit_2_with_the_explanation():
    cp = subprocess.run([sys.executable, "-m", "imsim", "run", "--hw", "hw_configs/plain_32x32_int8.yaml",
                         "--gemm", "64,64,64"], capture_output=True, text=True)
    assert cp.returncode == 2
    err = cp.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "plain_32x32_int8" in err and "heavy hitter" in err and "k_scale=" in err
    assert "recomb_lanes>=1" in err and "a_bits/w_bits" in err
