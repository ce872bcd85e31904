"""Objective-driven `auto` and the per-GEMM policy (imsim.policy) on the bundled trace."""
import numpy as np
import pytest

from imsim.hwconfig import HwConfig
from imsim.policy import OBJECTIVES, best_unpack, objective_value, per_gemm_policy
from imsim.simulate import quantize_operands, simulate_gemm
from imsim.trace import bundled_trace_path, open_trace
from imsim.unpack import unpack_gemm

HW = HwConfig(a_bits=4, w_bits=4, acc_bits=24)  # the default 32x32 array with 4-bit MACs
BETA = 0.99  # RTN threshold below max|x|: heavy hitters to unpack


def _jobs(limit=None, stride=1):
    trace = open_trace(bundled_trace_path())
    out = []
    for i, rec in enumerate(trace):
        if i % stride:
            continue
        A, B = quantize_operands(rec.A, rec.B, HW.a_bits, HW.w_bits, BETA)
        out.append((A, B, {"name": rec.name}))
        if limit and len(out) >= limit:
            break
    return out


def test_auto_for_cycles_is_never_slower_than_a_fixed_strategy():
    for A, B, meta in _jobs():  # every GEMM of the bundled trace
        best = simulate_gemm(HW, best_unpack(HW, A, B, "cycles"), execute=False, energy=False, operands=(A, B))
        for s in ("row", "col", "both"):
            fixed = simulate_gemm(HW, unpack_gemm(A, B, 4, 4, s), execute=False, energy=False, operands=(A, B))
            assert best.cycles <= fixed.cycles, (meta["name"], s)


def test_auto_for_macs_is_plain_auto():
    A, B, _ = _jobs(limit=1)[0]
    assert best_unpack(HW, A, B, "macs").macs == unpack_gemm(A, B, 4, 4, "auto").macs


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_per_gemm_policy_never_worse_than_the_best_fixed_choice(objective):
    jobs = _jobs(limit=5, stride=9)
    res = per_gemm_policy(HW, jobs, objective)
    assert len(res.choices) == len(jobs)
    assert res.policy_value <= res.best_fixed_value * (1 + 1e-12)
    assert res.gain >= 1.0
    assert res.policy_value == pytest.approx(objective_value(res.results, objective))
    rows = res.rows()
    assert [r["name"] for r in rows] == [m["name"] for _, _, m in jobs]
    if objective in ("energy", "edp"):  # one physical design: every candidate pays its leakage
        assert len({r.area_um2 for r in res.results + res.best_fixed_results}) == 1


def test_policy_on_a_plain_design_keeps_to_what_it_has():
    plain = HwConfig(a_bits=8, w_bits=8, k_scale="none", recomb_lanes=0, unpack_lanes=0)
    rng = np.random.default_rng(0)
    A = rng.integers(-127, 128, size=(40, 50))
    B = rng.integers(-127, 128, size=(50, 30))
    res = per_gemm_policy(plain, [(A, B, {"name": "fits"})], "cycles")
    assert res.choices[0].k_scale == "none"


def test_cli_policy_per_gemm_writes_a_table_and_parquet(tmp_path):
    import subprocess
    import sys

    import pandas as pd

    out = tmp_path / "policy.parquet"
    cp = subprocess.run([sys.executable, "-m", "imsim", "run", "--hw", "hw_configs/default.yaml", "--gemm",
                         "48,64,40", "--bits", "4", "--policy", "per-gemm", "--objective", "cycles",
                         "--policy-out", str(out)], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    assert "best single fixed choice" in cp.stdout and "gain" in cp.stdout
    df = pd.read_parquet(out)
    assert list(df["name"]) == ["gemm_48x64x40"]
    assert set(df["dataflow"]) <= {"os", "ws", "is"}
    assert (df["objective_value"] <= df["fixed_objective_value"]).all()


def test_cli_objective_needs_auto():
    import subprocess
    import sys

    cp = subprocess.run([sys.executable, "-m", "imsim", "run", "--hw", "hw_configs/default.yaml", "--gemm", "8,8,8",
                         "--strategy", "row", "--objective", "cycles"], capture_output=True, text=True)
    assert cp.returncode == 2 and "--strategy auto" in cp.stderr and "Traceback" not in cp.stderr


@pytest.mark.parametrize("objective", ("macs", "cycles"))
def test_policy_reports_the_energy_of_its_choices_whatever_the_objective(objective):
    from imsim.policy import policy_design_area

    jobs = _jobs(limit=2, stride=17)
    res = per_gemm_policy(HW, jobs, objective)
    design = policy_design_area(HW, "pipelined", ("os", "ws", "is"))
    for (A, B, meta), c, r, f in zip(jobs, res.choices, res.results, res.best_fixed_results):
        assert np.isfinite(r.energy_pj) and r.energy_pj > 0, meta["name"]
        assert np.isfinite(f.energy_pj) and f.energy_pj > 0, meta["name"]
        assert r.area_um2 == design["area_um2"] == f.area_um2  # charged on the one physical design
        # the same figure as simulating the chosen candidate with energy on
        h = HW.replace(dataflow=c.dataflow, k_scale=c.k_scale)
        ug = unpack_gemm(A, B, HW.a_bits, HW.w_bits, digits="signmag", pair=c.pair)
        ref = simulate_gemm(h, ug, execute=False, operands=(A, B), meta=meta)
        assert r.cycles == ref.cycles
        leak = ref.energy["energy_leakage_pj"] * design["area_um2"] / ref.area_um2
        assert r.energy["energy_leakage_pj"] == pytest.approx(leak)
        assert r.energy_pj == pytest.approx(ref.energy_pj - ref.energy["energy_leakage_pj"] + leak)
    assert all(np.isfinite(row["energy_pj"]) for row in res.rows())


def test_cli_policy_for_cycles_prints_no_nan():
    import subprocess
    import sys

    cp = subprocess.run([sys.executable, "-m", "imsim", "run", "--hw", "hw_configs/default.yaml", "--gemm",
                         "48,64,40", "--bits", "4", "--policy", "per-gemm", "--objective", "cycles"],
                        capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    assert "energy_pj" in cp.stdout and "nan" not in cp.stdout.lower()
