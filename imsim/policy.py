"""Objective-driven choices: which unpack strategy pair, dataflow and K-scale mechanism a GEMM
should use on a given array, judged by its simulated cost rather than its MAC count.

    objective_value(results, objective)       macs | cycles | energy (pJ) | edp (pJ x cycles)
    best_unpack(hw, A, B, objective, ...)     `auto --objective`: the strategy pair minimising
                                              the objective on hw as configured
    per_gemm_policy(hw, jobs, objective, ...) `--policy per-gemm`: per GEMM of a trace, the
                                              (pair, dataflow, k_scale) minimising the objective,
                                              against the best single fixed choice

Every candidate is simulated (timing, traffic, energy; no exact execution: unpacking is exact
whatever the choice) on the same array, SRAM, DRAM and technology; only the choice changes.
Candidates: the 9 (A strategy, B strategy) pairs of {row, col, both} (operands that already fit
give the identity plan under every pair), the 3 dataflows, and the K-scale mechanisms the design
has (shift_accumulate designs can also run scale_passes; scale_passes and none designs only
their own). Candidates the design cannot run (imsim.capability) are skipped. No I/O here.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from imsim.errors import UserError, bad_value
from imsim.unpack import UnpackedGemm, unpack_gemm

OBJECTIVES = ("macs", "cycles", "energy", "edp")
PAIRS = tuple((sa, sb) for sa in ("row", "col", "both") for sb in ("row", "col", "both"))
DATAFLOWS = ("os", "ws", "is")


def check_objective(objective: str, source: Optional[str] = None) -> str:
    """The objective itself, or UserError naming the allowed ones."""
    if objective not in OBJECTIVES:
        raise bad_value(source, "objective", objective, "one of " + ", ".join(OBJECTIVES))
    return objective


def objective_value(results: Sequence[Any], objective: str) -> float:
    """Objective of GEMMs run one after another: total MACs, cycles, energy (pJ), or
    energy-delay product (total pJ x total cycles)."""
    check_objective(objective)
    if objective == "macs":
        return float(sum(r.macs for r in results))
    if objective == "cycles":
        return float(sum(r.cycles for r in results))
    energy = math.fsum(r.energy_pj for r in results)
    if objective == "energy":
        return energy
    return energy * float(sum(r.cycles for r in results))


def _needs_energy(objective: str) -> bool:
    return objective in ("energy", "edp")


def unpack_candidates(A: np.ndarray, B: np.ndarray, a_bits: int, w_bits: int, digits: str = "signmag"
                      ) -> tuple[dict[tuple, UnpackedGemm], dict[tuple, tuple]]:
    """Every strategy pair's unpacked GEMM: ({kept pair: UnpackedGemm}, {pair: kept pair}).
    Pairs giving the same low-bit GEMM cost-wise (shape, K scale classes, shifted K lines) are
    simulated once, under the first of them."""
    out: dict[tuple, UnpackedGemm] = {}
    alias: dict[tuple, tuple] = {}
    first: dict = {}
    for pair in PAIRS:
        ug = unpack_gemm(A, B, a_bits, w_bits, digits=digits, pair=pair)
        key = (ug.low_shape, tuple(int(x) for x in ug.k_classes),
               int(np.count_nonzero(ug.plan.k_shift)))
        if key not in first:
            first[key] = pair
            out[pair] = ug
        alias[pair] = first[key]
    return out, alias


def _simulate(hw, ug: UnpackedGemm, timing: str, operands, objective: str, meta: Optional[dict] = None):
    """Cost of one candidate, or None when the design cannot run it."""
    from imsim.simulate import simulate_gemm

    try:
        return simulate_gemm(hw, ug, timing=timing, execute=False, meta=meta, operands=operands,
                             energy=_needs_energy(objective))
    except UserError:
        return None


def best_unpack(hw, A: np.ndarray, B: np.ndarray, objective: str, timing: str = "pipelined",
                digits: str = "signmag") -> UnpackedGemm:
    """`auto` judged by `objective` on design hw as configured: the strategy pair whose simulated
    cost is lowest (ties: fewer MACs, then pair order). objective 'macs' is plain `auto`."""
    check_objective(objective)
    if objective == "macs":
        return unpack_gemm(A, B, hw.a_bits, hw.w_bits, "auto", digits)
    best = None
    for pair, ug in unpack_candidates(A, B, hw.a_bits, hw.w_bits, digits)[0].items():
        r = _simulate(hw, ug, timing, (A, B), objective)
        if r is None:
            continue
        key = (objective_value([r], objective), ug.macs)
        if best is None or key < best[0]:
            best = (key, pair, ug)
    if best is None:  # nothing runs: let the simulation say why
        return unpack_gemm(A, B, hw.a_bits, hw.w_bits, "auto", digits)
    _, (sa, sb), ug = best
    return dataclasses.replace(ug, strategy=f"auto[{objective}]({sa},{sb})")


@dataclass(frozen=True)
class Choice:
    """One policy choice for a GEMM: (A strategy, B strategy), dataflow, K-scale mechanism."""

    pair: tuple
    dataflow: str
    k_scale: str

    @property
    def label(self) -> str:
        return f"{self.pair[0]}/{self.pair[1]} {self.dataflow} {self.k_scale}"


def k_scales_of(hw) -> tuple[str, ...]:
    """K-scale mechanisms a design can use: a shift-accumulate design can also run passes
    (its recombination unit adds them) when it has one."""
    if hw.k_scale == "shift_accumulate" and hw.recomb_lanes > 0:
        return ("shift_accumulate", "scale_passes")
    return (hw.k_scale,)


@dataclass(frozen=True)
class PolicyResult:
    """Outcome of `per_gemm_policy` (objective values in the objective's unit)."""

    objective: str
    choices: tuple          # Choice per GEMM
    results: tuple          # GemmResult of the chosen candidate per GEMM
    policy_value: float     # objective of the per-GEMM choices over the trace
    best_fixed: Choice      # the single choice with the lowest trace objective
    best_fixed_value: float
    best_fixed_results: tuple
    candidates: int         # candidates simulated per GEMM, summed

    @property
    def gain(self) -> float:
        """best fixed / policy (>= 1: how many times lower the per-GEMM policy's objective is)."""
        return self.best_fixed_value / self.policy_value if self.policy_value else 1.0

    def rows(self) -> list[dict]:
        """One dict per GEMM: the choice and its figures next to the best fixed choice's."""
        out = []
        for c, r, f in zip(self.choices, self.results, self.best_fixed_results):
            out.append({"name": r.name, "M": r.M, "K": r.K, "N": r.N, "strategy_pair": f"{c.pair[0]}/{c.pair[1]}",
                        "dataflow": c.dataflow, "k_scale": c.k_scale, "macs": r.macs, "cycles": r.cycles,
                        "energy_pj": r.energy_pj, "objective": self.objective,
                        "objective_value": objective_value([r], self.objective),
                        "fixed_objective_value": objective_value([f], self.objective)})
        return out


def _on_design(r, area: dict):
    """Result `r` charged with the leakage of the physical design whose area is `area`
    (area_of_design(...).to_dict()), instead of the variant it was simulated as."""
    if not r.energy:
        return r
    e = dict(r.energy)
    old = e["energy_leakage_pj"]
    e["energy_leakage_pj"] = old * area["area_um2"] / r.area["area_um2"]
    e["energy_pj"] += e["energy_leakage_pj"] - old
    e["energy_per_useful_mac_pj"] = e["energy_pj"] / r.useful_macs if r.useful_macs else math.nan
    return dataclasses.replace(r, energy=e, area=dict(area))


def _costed(hw, choice: Choice, r, job: tuple, timing: str, digits: str, design: dict):
    """Result `r` of `choice` on GEMM `job` ((A, B, meta)) with its energy (pJ) and area filled
    in, charged on the physical design whose area is `design`: candidates judged on cycles or
    MACs are simulated without energy, so the chosen ones are costed again with it."""
    if r.energy:
        return r
    A, B, meta = job
    ug = unpack_gemm(A, B, hw.a_bits, hw.w_bits, digits=digits, pair=choice.pair)
    from imsim.simulate import simulate_gemm

    h = hw.replace(dataflow=choice.dataflow, k_scale=choice.k_scale)
    return _on_design(simulate_gemm(h, ug, timing=timing, execute=False, meta=meta, operands=(A, B)), design)


def policy_design_area(hw, timing: str, dataflows: Sequence[str]) -> dict:
    """Area of the one physical design every candidate runs on: hw's units (its K-scale
    mechanism, recombination and unpack units) and, for every dataflow the policy may pick, that
    dataflow's timing registers (the largest; the muxes that switch dataflows are not costed)."""
    from imsim.area import area_of_design

    return max((area_of_design(hw.replace(dataflow=df), timing=timing).to_dict() for df in dataflows),
               key=lambda a: a["area_um2"])


def per_gemm_policy(hw, jobs: Iterable[tuple], objective: str, timing: str = "pipelined",
                    dataflows: Sequence[str] = DATAFLOWS, digits: str = "signmag") -> PolicyResult:
    """Per GEMM of `jobs` ((integer A, integer B, meta) each), the Choice minimising `objective`
    on the array of `hw` (rows, cols, widths, SRAM, DRAM and technology held equal), and the
    best single Choice for the whole trace. For additive objectives (macs, cycles, energy) each
    GEMM takes its own minimum; for edp (total energy x total cycles, not additive) coordinate
    descent starts from the best fixed choice and changes one GEMM at a time while the trace
    EDP drops. Either way the policy is never worse than the best fixed choice. Every
    candidate is charged the leakage of the same physical design (policy_design_area), so a
    choice that leaves a unit idle does not look smaller than the hardware it runs on. Under
    macs or cycles the candidates are compared without energy; the chosen ones and the best
    fixed choice's are then simulated again with it, so every result carries its energy (pJ)."""
    check_objective(objective)
    jobs = list(jobs)
    design = policy_design_area(hw, timing, dataflows)
    grid: list[dict] = []   # per GEMM: Choice -> GemmResult
    n_cand = 0
    for A, B, meta in jobs:
        per: dict = {}
        cands, alias = unpack_candidates(A, B, hw.a_bits, hw.w_bits, digits)
        for df in dataflows:
            for ks in k_scales_of(hw):
                h = hw.replace(dataflow=df, k_scale=ks)
                done: dict = {}
                for pair in PAIRS:
                    src = alias[pair]
                    if src not in done:
                        r = _simulate(h, cands[src], timing, (A, B), objective, meta)
                        done[src] = None if r is None else _on_design(r, design)
                        n_cand += 1
                    if done[src] is not None:
                        per[Choice(pair, df, ks)] = done[src]
        if not per:
            raise UserError(f"{meta.get('name', 'gemm')}: no strategy, dataflow or k_scale runs on design "
                            f"'{hw.name}'")
        grid.append(per)
    if not grid:
        raise UserError("--policy per-gemm: the trace holds no GEMM")
    common = set(grid[0]).intersection(*grid[1:])
    if not common:
        raise UserError(f"--policy per-gemm: no single choice runs every GEMM on design '{hw.name}'")
    order = sorted(common, key=lambda c: (c.pair, c.dataflow, c.k_scale))
    fixed = min(order, key=lambda c: objective_value([g[c] for g in grid], objective))
    fixed_res = [g[fixed] for g in grid]
    fixed_val = objective_value(fixed_res, objective)
    if objective == "edp":
        pick = [fixed] * len(grid)
        improved = True
        while improved:
            improved = False
            for i, g in enumerate(grid):
                cur = objective_value([grid[j][pick[j]] for j in range(len(grid))], objective)
                for c in sorted(g, key=lambda c: (c.pair, c.dataflow, c.k_scale)):
                    trial = pick[:i] + [c] + pick[i + 1:]
                    v = objective_value([grid[j][trial[j]] for j in range(len(grid))], objective)
                    if v < cur * (1 - 1e-12):
                        pick, cur, improved = trial, v, True
    else:
        pick = [min(sorted(g, key=lambda c: (c.pair, c.dataflow, c.k_scale)),
                    key=lambda c: (objective_value([g[c]], objective), g[c].macs)) for g in grid]
    chosen = [g[c] for g, c in zip(grid, pick)]
    if not _needs_energy(objective):  # chosen on cycles or MACs: still report their energy
        fixed_res = [_costed(hw, fixed, r, job, timing, digits, design) for r, job in zip(fixed_res, jobs)]
        chosen = [f if c == fixed else _costed(hw, c, r, job, timing, digits, design)
                  for c, r, f, job in zip(pick, chosen, fixed_res, jobs)]
    return PolicyResult(objective=objective, choices=tuple(pick), results=tuple(chosen),
                        policy_value=objective_value(chosen, objective), best_fixed=fixed,
                        best_fixed_value=fixed_val, best_fixed_results=tuple(fixed_res),
                        candidates=n_cand)

