"""imsim.results: totals, running totals in constant memory, totals by kind and phase."""
from __future__ import annotations

import math

import numpy as np

from imsim.hwconfig import HwConfig
from imsim.results import GroupedTotals, RunningTotals, totals
from imsim.simulate import simulate_gemm
from imsim.unpack import unpack_gemm


def _results():
    rng = np.random.default_rng(0)
    hw = HwConfig(rows=8, cols=8)
    out = []
    for i, (kind, phase, shape) in enumerate([("linear", "fwd", (12, 20, 9)), ("attn_qk", "fwd", (6, 8, 6)),
                                              ("linear", "fwd", (12, 20, 9)), ("grad_input", "bwd", (9, 20, 12))]):
        M, K, N = shape
        A, B = rng.integers(-300, 300, (M, K)), rng.integers(-100, 100, (K, N))
        ug = unpack_gemm(A, B, 8, 8, "auto")
        out.append(simulate_gemm(hw, ug, operands=(A, B), meta={"name": f"g{i}", "kind": kind, "phase": phase}))
    return out


def test_totals_sum_counts_and_recompute_ratios():
    rs = _results()
    t = totals(rs)
    assert t["gemms"] == 4
    assert t["cycles"] == sum(r.cycles for r in rs)
    assert t["macs"] == sum(r.macs for r in rs)
    assert t["unpack_ratio"] == t["macs"] / t["useful_macs"]
    assert math.isclose(t["energy_pj"], sum(r.energy_pj for r in rs))
    assert t["area_um2"] == rs[0].area_um2  # one design: not summed
    assert t["exact"] is True
    assert totals([])["gemms"] == 0 and totals([])["exact"] is None


def test_running_totals_equal_totals_of_the_list():
    rs = _results()
    acc = RunningTotals()
    for r in rs:
        acc.add(r)
    assert acc.value() == totals(rs)


def test_groups_by_kind_and_phase_in_first_seen_order_and_add_up():
    rs = _results()
    g = GroupedTotals()
    for r in rs:
        g.add(r)
    rows = g.rows()
    assert [(r["kind"], r["phase"], r["gemms"]) for r in rows] == [
        ("linear", "fwd", 2), ("attn_qk", "fwd", 1), ("grad_input", "bwd", 1)]
    assert sum(r["cycles"] for r in rows) == g.total.value()["cycles"] == totals(rs)["cycles"]
    assert rows[0]["cycles"] == totals([rs[0], rs[2]])["cycles"]
