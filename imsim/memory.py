"""Memory system of the accelerator: a simpy discrete-event pipeline at fold/chunk granularity.

Stages (one simpy process each, see docs/model-memory.md):

    loader   DRAM -> SRAM A/B (and C partial-sum reloads), one transfer per step;
             a transfer holds the DRAM channel for bytes / dram_bw cycles, then lands
             dram_latency cycles later (latencies of back-to-back transfers overlap).
    array    computes a step once its operands landed (and an output slot is free);
             its busy time comes from the array timing model.
    writer   recombination unit (shift-and-add of extra rows/columns/K-passes), then
             write-back of the step's outputs to DRAM over the same channel.

A *step* is one chunk of one fold: folds follow imsim.array's order (column folds outer, row
folds inner) and the temporal axis of a fold is split into chunks that fit the SRAM buffers
(re-tiling of the transfers; the array's folds are unchanged). Buffer slots: 2 per buffer when
double-buffered (the next step's loads overlap the current step's compute), else 1.

Speed: the step sequence is a tree of repeated identical blocks (`Rep`). Every repeat is
simulated for at most `max_iterations` iterations; once a repeat has reached its periodic
steady state, the skipped iterations add their measured period (time and stalls) exactly,
while byte counts are summed analytically over the full tree. Times are in cycles (floats
inside, rounded at the end); sizes in bytes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import simpy

from imsim.errors import UserError
from imsim.recombine import block_ops, exposed_cycles

KIB = 1024

# dataflow -> operand playing each role: "rt" (row axis x temporal), "ct" (col axis x temporal),
# "rc" (row axis x col axis = the stationary one), and which operand is the output C.
ROLES = {
    "os": {"rt": "A", "ct": "B", "rc": "C"},
    "ws": {"rt": "A", "ct": "C", "rc": "B"},
    "is": {"rt": "B", "ct": "C", "rc": "A"},
}

COUNTERS = (
    "dram_a_read_bytes", "dram_b_read_bytes", "dram_c_read_bytes", "dram_write_bytes",
    "sram_a_read_bytes", "sram_a_write_bytes", "sram_b_read_bytes", "sram_b_write_bytes",
    "sram_c_read_bytes", "sram_c_write_bytes",
)
_IDX = {name: i for i, name in enumerate(COUNTERS)}


def packed_bytes(bits: int, count: int) -> int:
    """Bytes of `count` elements of `bits` each, densely packed: ceil(bits * count / 8)."""
    return -(-bits * count // 8)


@dataclass(frozen=True)
class MemoryParams:
    """What the memory model needs from a HwConfig (bits in bits, sizes in bytes)."""

    rows: int
    cols: int
    dataflow: str
    a_bits: int
    w_bits: int
    acc_bits: int
    sram_a_bytes: float
    sram_b_bytes: float
    sram_c_bytes: float
    double_buffered: bool
    dram_bw_bytes_per_cycle: float
    dram_latency_cycles: int
    recomb_lanes: int

    @classmethod
    def from_hw(cls, hw) -> "MemoryParams":
        """Take the fields from an imsim.hwconfig.HwConfig."""
        return cls(rows=hw.rows, cols=hw.cols, dataflow=hw.dataflow, a_bits=hw.a_bits,
                   w_bits=hw.w_bits, acc_bits=hw.acc_bits, sram_a_bytes=hw.sram_a_kib * KIB,
                   sram_b_bytes=hw.sram_b_kib * KIB, sram_c_bytes=hw.sram_c_kib * KIB,
                   double_buffered=hw.double_buffered,
                   dram_bw_bytes_per_cycle=hw.dram_bw_bytes_per_cycle,
                   dram_latency_cycles=hw.dram_latency_cycles, recomb_lanes=hw.recomb_lanes)

    def bits(self, operand: str) -> int:
        return {"A": self.a_bits, "B": self.w_bits, "C": self.acc_bits}[operand]

    def capacity(self, operand: str) -> float:
        """Bytes one slot of the operand's buffer holds (half the buffer if double-buffered)."""
        size = {"A": self.sram_a_bytes, "B": self.sram_b_bytes, "C": self.sram_c_bytes}[operand]
        return size / 2 if self.double_buffered else size


@dataclass(frozen=True)
class PassShape:
    """One array pass: a low-bit GEMM (M x K x N) run in `compute_cycles` array cycles over
    `folds` folds. `base_rows` / `base_cols` = leading rows / columns of C that need no
    recombination (the original lines, in the first pass); 0 in later scale passes."""

    M: int
    K: int
    N: int
    compute_cycles: float
    folds: int
    base_rows: int
    base_cols: int


@dataclass(frozen=True)
class Step:
    """One chunk of one fold: DRAM load bytes, array cycles, recombination ops, write bytes."""

    load_bytes: int
    compute_cycles: float
    recomb_ops: int
    write_bytes: int
    counters: tuple  # bytes per COUNTERS entry


@dataclass(frozen=True)
class Rep:
    """`count` identical iterations of `body`."""

    count: int
    body: tuple


Node = Union[Step, Rep]


@dataclass(frozen=True)
class MemoryResult:
    """Figures of the memory pipeline for one GEMM (cycles, bytes, bytes per cycle)."""

    cycles: int                      # total: first load issued -> last write-back done (rounded)
    compute_cycles: int              # array busy cycles (= array timing model)
    stall_cycles: int                # cycles - compute - recomb: array waiting on memory
    recomb_cycles: int               # exposed recombination cycles (tail after the array)
    recomb_busy_cycles: int          # recombination unit busy cycles (overlapped or not)
    recomb_ops: int                  # shift-and-add element operations
    steps: int                       # fold chunks in the full schedule
    simulated_steps: int             # steps actually run through simpy
    chunk_len: tuple                 # temporal chunk length per pass (elements)
    peak_bw_demand_bytes_per_cycle: float   # max over steps of DRAM bytes to hide / compute cycles
    dram_read_bytes: int
    dram_write_bytes: int
    dram_a_read_bytes: int
    dram_b_read_bytes: int
    dram_c_read_bytes: int
    sram_a_read_bytes: int
    sram_a_write_bytes: int
    sram_b_read_bytes: int
    sram_b_write_bytes: int
    sram_c_read_bytes: int
    sram_c_write_bytes: int

    @property
    def dram_bytes(self) -> int:
        return self.dram_read_bytes + self.dram_write_bytes

    @property
    def sram_bytes(self) -> int:
        return (self.sram_a_read_bytes + self.sram_a_write_bytes + self.sram_b_read_bytes
                + self.sram_b_write_bytes + self.sram_c_read_bytes + self.sram_c_write_bytes)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["chunk_len"] = list(self.chunk_len)
        d["dram_bytes"] = self.dram_bytes
        d["sram_bytes"] = self.sram_bytes
        return d


# --------------------------------------------------------------------------- schedule


def _segments(total: int, tile: int, base: int, flags: tuple) -> list[tuple[tuple, int]]:
    """Run-length encoding of the tiles along one axis.

    Each tile is described by (size, base lines inside, is_first, is_last) with only the flags
    in `flags` kept; consecutive identical tiles merge into (attr, count).
    """
    n = -(-total // tile)
    starts = np.arange(n, dtype=np.int64) * tile
    sizes = np.minimum(tile, total - starts)
    bases = np.clip(base - starts, 0, sizes)
    first = np.zeros(n, dtype=bool)
    first[0] = "first" in flags
    last = np.zeros(n, dtype=bool)
    last[-1] = "last" in flags
    keys = np.stack([sizes, bases, first, last], axis=1)
    change = np.ones(n, dtype=bool)
    change[1:] = np.any(keys[1:] != keys[:-1], axis=1)
    idx = np.flatnonzero(change)
    counts = np.diff(np.append(idx, n))
    return [((int(keys[i, 0]), int(keys[i, 1]), bool(keys[i, 2]), bool(keys[i, 3])), int(c))
            for i, c in zip(idx, counts)]


def _chunk_len(p: MemoryParams, roles: dict, T: int) -> int:
    """Longest temporal chunk whose streamed tiles fit one buffer slot each (UserError if even
    one temporal line does not fit)."""
    limits = []
    for role, lines in (("rt", p.rows), ("ct", p.cols)):
        op = roles[role]
        per_line = p.bits(op) * lines / 8
        fit = int(p.capacity(op) // per_line)
        if fit < 1:
            key = f"sram_{op.lower()}_kib"
            need = per_line * (2 if p.double_buffered else 1) / KIB
            raise UserError(
                f"{key} = {p.capacity(op) * (2 if p.double_buffered else 1) / KIB:g}: too small for "
                f"one line of the streamed {op} tile ({lines} x {p.bits(op)} bits"
                f"{', double-buffered' if p.double_buffered else ''}); need at least {need:g} KiB")
        limits.append(fit)
    return max(1, min([T] + limits))


def build_schedule(p: MemoryParams, shape: PassShape) -> tuple[Rep, int]:
    """The step tree of one pass and its temporal chunk length.

    Loop order: column folds (outer) > row folds (inner) > temporal chunks, as imsim.array.
    Reuse: the rt operand (depends on row fold and chunk) is loaded once if the whole operand
    fits its buffer slot, else every fold; the ct input (depends on column fold and chunk, os's
    B) is loaded once per column fold if its panel fits, else every fold; the stationary rc
    input (ws's B, is's A) is loaded at each fold's first chunk. Outputs: os writes each fold's
    C tile after its last chunk; ws/is accumulate C partial sums (acc_bits) across the row
    folds (K) in the C buffer if the panel fits (written once, final), else spill every fold.
    """
    roles = ROLES[p.dataflow]
    axis = {"os": ("M", "N", "K"), "ws": ("K", "N", "M"), "is": ("K", "M", "N")}[p.dataflow]
    ext = {"M": shape.M, "K": shape.K, "N": shape.N}
    base = {"M": shape.base_rows, "N": shape.base_cols, "K": 0}
    R_tot, C_tot, T = ext[axis[0]], ext[axis[1]], ext[axis[2]]
    ch = _chunk_len(p, roles, T)
    rt, ct, rc = roles["rt"], roles["ct"], roles["rc"]
    out_is_rc = rc == "C"
    rt_resident = packed_bytes(p.bits(rt), R_tot * T) <= p.capacity(rt)
    ct_panel_fits = packed_bytes(p.bits(ct), p.cols * T) <= p.capacity(ct)
    per_step = shape.compute_cycles / max(1, shape.folds) / T  # cycles per temporal element

    outer = _segments(C_tot, p.cols, base[axis[1]], ("first",))
    inner = _segments(R_tot, p.rows, base[axis[0]], ("first", "last"))
    chunks = _segments(T, ch, base[axis[2]], ("first", "last"))

    def step(o: tuple, i: tuple, c: tuple) -> Step:
        csize, cbase, o_first, _ = o
        rsize, rbase, i_first, i_last = i
        tsize, tbase, t_first, t_last = c
        cnt = [0] * len(COUNTERS)
        load = 0
        rt_bytes = packed_bytes(p.bits(rt), rsize * tsize)
        if not rt_resident or o_first:
            load += rt_bytes
            cnt[_IDX[f"dram_{rt.lower()}_read_bytes"]] += rt_bytes
            cnt[_IDX[f"sram_{rt.lower()}_write_bytes"]] += rt_bytes
        cnt[_IDX[f"sram_{rt.lower()}_read_bytes"]] += rt_bytes
        write = 0
        recomb = 0
        ct_bytes = packed_bytes(p.bits(ct), csize * tsize)
        if ct != "C":  # os: B panel, reused across the row folds of a column fold
            if not ct_panel_fits or i_first:
                load += ct_bytes
                cnt[_IDX[f"dram_{ct.lower()}_read_bytes"]] += ct_bytes
                cnt[_IDX[f"sram_{ct.lower()}_write_bytes"]] += ct_bytes
            cnt[_IDX[f"sram_{ct.lower()}_read_bytes"]] += ct_bytes
        else:  # ws/is: C partial sums of this chunk, accumulated over the row folds (K)
            cnt[_IDX["sram_c_write_bytes"]] += ct_bytes
            if not i_first:
                cnt[_IDX["sram_c_read_bytes"]] += ct_bytes  # read-modify-write
                if not ct_panel_fits:  # spilled partials come back from DRAM
                    load += ct_bytes
                    cnt[_IDX["dram_c_read_bytes"]] += ct_bytes
                    cnt[_IDX["sram_c_write_bytes"]] += ct_bytes
            if i_last or not ct_panel_fits:
                write += ct_bytes
                cnt[_IDX["sram_c_read_bytes"]] += ct_bytes
            if i_last:  # final: C[chunk rows or cols] of this column fold
                rows_, brows = (tsize, tbase) if p.dataflow == "ws" else (csize, cbase)
                cols_, bcols = (csize, cbase) if p.dataflow == "ws" else (tsize, tbase)
                recomb += block_ops(rows_, brows, cols_, bcols)
        rc_bytes = packed_bytes(p.bits(rc), rsize * csize)
        if not out_is_rc:  # stationary input tile enters the PEs at the fold's first chunk
            if t_first:
                load += rc_bytes
                cnt[_IDX[f"dram_{rc.lower()}_read_bytes"]] += rc_bytes
                cnt[_IDX[f"sram_{rc.lower()}_write_bytes"]] += rc_bytes
                cnt[_IDX[f"sram_{rc.lower()}_read_bytes"]] += rc_bytes
        elif t_last:  # os: the C tile leaves the PEs after the fold's last chunk
            write += rc_bytes
            cnt[_IDX["sram_c_write_bytes"]] += rc_bytes
            cnt[_IDX["sram_c_read_bytes"]] += rc_bytes
            recomb += block_ops(rsize, rbase, csize, cbase)
        cnt[_IDX["dram_write_bytes"]] += write
        return Step(load_bytes=load, compute_cycles=per_step * tsize, recomb_ops=recomb,
                    write_bytes=write, counters=tuple(cnt))

    tree = Rep(1, tuple(
        Rep(on, tuple(
            Rep(inn, tuple(Rep(cn, (step(o, i, c),)) for c, cn in chunks))
            for i, inn in inner))
        for o, on in outer))
    return tree, ch


def _totals(node: Node) -> tuple[np.ndarray, int, float, int]:
    """Exact totals over the full tree: counters, recomb ops, compute cycles, steps."""
    if isinstance(node, Step):
        return np.array(node.counters, dtype=np.int64), node.recomb_ops, node.compute_cycles, 1
    cnt = np.zeros(len(COUNTERS), dtype=np.int64)
    ops = 0
    comp = 0.0
    steps = 0
    for child in node.body:
        c, o, t, s = _totals(child)
        cnt += c
        ops += o
        comp += t
        steps += s
    return cnt * node.count, ops * node.count, comp * node.count, steps * node.count


# --------------------------------------------------------------------------- simulation


@dataclass
class _Inst:
    """A simulated repeat: its full count and, per simulated iteration, (first, last) step
    index and the child repeat instances."""

    count: int
    iters: list


def _flatten(node: Rep, out: list, max_iter: int) -> _Inst:
    inst = _Inst(node.count, [])
    for _ in range(min(node.count, max_iter)):
        lo = len(out)
        kids = []
        for child in node.body:
            if isinstance(child, Step):
                out.append(child)
            else:
                kids.append(_flatten(child, out, max_iter))
        inst.iters.append((lo, len(out) - 1, kids))
    return inst


def _skipped(inst: _Inst, end: np.ndarray, stall_cum: np.ndarray) -> tuple[float, float]:
    """(time, stall) of the iterations not simulated, from the steady-state period.

    Iteration j's real duration = simulated span + what its nested repeats skipped; the
    period is taken from the second-to-last simulated iteration (the last one is followed by
    a different block in the simulation, exactly as the real last iteration is).
    """
    t_skip = s_skip = 0.0
    inner_t, inner_s = [], []
    for _, _, kids in inst.iters:
        t = s = 0.0
        for k in kids:
            kt, ks = _skipped(k, end, stall_cum)
            t += kt
            s += ks
        inner_t.append(t)
        inner_s.append(s)
        t_skip += t
        s_skip += s
    c = len(inst.iters)
    if inst.count > c:
        # average over two iterations: the steady state may alternate (cyclicity 2)
        j0, j1 = c - 3, c - 2
        ref_hi = inst.iters[j0 - 1][1]
        lo, hi = inst.iters[j0][0], inst.iters[j1][1]
        period = ((end[hi] - end[ref_hi]) + inner_t[j0] + inner_t[j1]) / 2
        stall = ((stall_cum[hi + 1] - stall_cum[lo]) + inner_s[j0] + inner_s[j1]) / 2
        t_skip += (inst.count - c) * period
        s_skip += (inst.count - c) * stall
    return t_skip, s_skip


def _simulate(steps: Sequence[Step], p: MemoryParams) -> tuple[np.ndarray, np.ndarray, float, float, list]:
    """Run the steps through simpy. Returns per-step compute end times and stall cycles, the
    array's end time, the overall end time and the recombination busy intervals."""
    env = simpy.Environment()
    dram = simpy.Resource(env, capacity=1)
    slots = 2 if p.double_buffered else 1
    in_slots = simpy.Container(env, capacity=slots, init=slots)
    out_slots = simpy.Container(env, capacity=slots, init=slots)
    outbox = simpy.Store(env)
    n = len(steps)
    landed = [env.event() for _ in range(n)]
    end = np.zeros(n)
    stall = np.zeros(n)
    recomb_spans: list = []
    bw, lat, lanes = p.dram_bw_bytes_per_cycle, p.dram_latency_cycles, p.recomb_lanes
    n_out = sum(1 for s in steps if s.write_bytes or s.recomb_ops)

    def loader():
        for i, st in enumerate(steps):
            yield in_slots.get(1)
            if st.load_bytes:
                with dram.request() as req:
                    yield req
                    yield env.timeout(st.load_bytes / bw)
                if lat:
                    env.timeout(lat).callbacks.append(lambda _e, ev=landed[i]: ev.succeed())
                else:
                    landed[i].succeed()
            else:
                landed[i].succeed()

    def array():
        for i, st in enumerate(steps):
            t0 = env.now
            if not landed[i].triggered:
                yield landed[i]
            has_out = bool(st.write_bytes or st.recomb_ops)
            if has_out:
                yield out_slots.get(1)
            stall[i] = env.now - t0
            yield env.timeout(st.compute_cycles)
            end[i] = env.now
            yield in_slots.put(1)
            if has_out:
                yield outbox.put(st)

    def writer():
        for _ in range(n_out):
            st = yield outbox.get()
            if st.recomb_ops:
                t0 = env.now
                yield env.timeout(st.recomb_ops / lanes)
                recomb_spans.append((t0, env.now))
            if st.write_bytes:
                with dram.request() as req:
                    yield req
                    yield env.timeout(st.write_bytes / bw)
            yield out_slots.put(1)

    env.process(loader())
    env.process(array())
    env.process(writer())
    env.run()
    return end, stall, float(end[-1]) if n else 0.0, float(env.now), recomb_spans


def simulate_memory(p: MemoryParams, passes: Sequence[PassShape], *, max_iterations: int = 6) -> MemoryResult:
    """Simulate the pipeline for a sequence of array passes (one per K scale class, or one).

    max_iterations (>= 4): iterations of each repeated block run through simpy before the
    steady-state period is extrapolated (a larger value only costs time).
    """
    if max_iterations < 4:
        raise ValueError("max_iterations must be >= 4")
    trees, chunk = [], []
    for shape in passes:
        tree, ch = build_schedule(p, shape)
        trees.append(tree)
        chunk.append(ch)
    root = Rep(1, tuple(trees))
    cnt, ops, comp, n_steps = _totals(root)
    flat: list[Step] = []
    inst = _flatten(root, flat, max_iterations)
    end, stall, array_end, sim_end, spans = _simulate(flat, p)
    stall_cum = np.concatenate([[0.0], np.cumsum(stall)])
    t_skip, _ = _skipped(inst, end, stall_cum)
    total = sim_end + t_skip
    recomb_tail = exposed_cycles(spans, array_end)
    cycles = int(round(total))
    compute = int(round(comp))
    recomb_exposed = int(round(recomb_tail))
    stall_cycles = max(0, cycles - compute - recomb_exposed)
    peak = 0.0
    for i, st in enumerate(flat):
        nxt = flat[i + 1].load_bytes if i + 1 < len(flat) else 0
        if st.compute_cycles > 0:
            peak = max(peak, (nxt + st.write_bytes) / st.compute_cycles)
    c = dict(zip(COUNTERS, (int(x) for x in cnt)))
    return MemoryResult(
        cycles=cycles, compute_cycles=compute, stall_cycles=stall_cycles,
        recomb_cycles=recomb_exposed, recomb_busy_cycles=int(math.ceil(ops / p.recomb_lanes)),
        recomb_ops=int(ops), steps=int(n_steps), simulated_steps=len(flat), chunk_len=tuple(chunk),
        peak_bw_demand_bytes_per_cycle=float(peak),
        dram_read_bytes=c["dram_a_read_bytes"] + c["dram_b_read_bytes"] + c["dram_c_read_bytes"],
        dram_write_bytes=c["dram_write_bytes"], dram_a_read_bytes=c["dram_a_read_bytes"],
        dram_b_read_bytes=c["dram_b_read_bytes"], dram_c_read_bytes=c["dram_c_read_bytes"],
        sram_a_read_bytes=c["sram_a_read_bytes"], sram_a_write_bytes=c["sram_a_write_bytes"],
        sram_b_read_bytes=c["sram_b_read_bytes"], sram_b_write_bytes=c["sram_b_write_bytes"],
        sram_c_read_bytes=c["sram_c_read_bytes"], sram_c_write_bytes=c["sram_c_write_bytes"],
    )
