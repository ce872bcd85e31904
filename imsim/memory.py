"""Memory system of the accelerator: a simpy discrete-event pipeline at fold/chunk granularity.

Stages (one simpy process each, see docs/model-memory.md):

    loader   DRAM -> SRAM A/B, one transfer per step;
             a transfer holds the DRAM channel (FIFO reservation calendar shared with the
             writer) for bytes / dram_bw cycles, then lands
             dram_latency cycles later (latencies of back-to-back transfers overlap).
    array    computes a step once its operands landed (and an output slot is free);
             its busy time comes from the array timing model.
    writer   recombination unit (shift-and-add of extra rows/columns/K-passes), then
             write-back of the step's outputs to DRAM over the same channel.

A *step* is one chunk of one fold: folds follow imsim.array's order (column folds outer, row
folds inner) and the temporal axis of a fold is split into chunks that fit the SRAM buffers
(re-tiling of the transfers; the array's folds are unchanged). ws/is cut the temporal axis
into bands when a column fold's partial sums would not fit the C buffer (each band is mapped
and timed on its own). Buffer slots: 2 per buffer when double-buffered (the next step's loads
overlap the current step's compute), else 1.

Speed: the step sequence is a tree of repeated identical blocks (`Rep`). Every repeat is
simulated for at most `max_iterations` iterations; once a repeat has reached its periodic
steady state, the skipped iterations add their measured period (time and stalls) exactly,
while byte counts are summed analytically over the full tree. Times are in cycles (floats
inside, rounded at the end); sizes in bytes.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np
import simpy

from imsim.array import compute_timing
from imsim.errors import UserError
from imsim.recombine import exposed_cycles

KIB = 1024

# dataflow -> operand playing each role: "rt" (row axis x temporal), "ct" (col axis x temporal),
# "rc" (row axis x col axis = the stationary one), and which operand is the output C.
ROLES = {
    "os": {"rt": "A", "ct": "B", "rc": "C"},
    "ws": {"rt": "A", "ct": "C", "rc": "B"},
    "is": {"rt": "B", "ct": "C", "rc": "A"},
}

COUNTERS = (
    "dram_a_read_bytes", "dram_b_read_bytes", "dram_write_bytes", "dram_spill_read_bytes",
    "sram_a_read_bytes", "sram_a_write_bytes", "sram_b_read_bytes", "sram_b_write_bytes",
    "sram_c_read_bytes", "sram_c_write_bytes",
    "unpack_ops", "spilled_outputs",  # counts (not bytes): unpack-unit ops, partials spilled
)
_IDX = {name: i for i, name in enumerate(COUNTERS)}


def packed_bytes(bits: int, count: int) -> int:
    """Bytes of `count` elements of `bits` each, densely packed: ceil(bits * count / 8)."""
    return int(-(-bits * count // 8))


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
    unpack_lanes: int = 0

    @classmethod
    def from_hw(cls, hw) -> "MemoryParams":
        """Take the fields from an imsim.hwconfig.HwConfig."""
        return cls(rows=hw.rows, cols=hw.cols, dataflow=hw.dataflow, a_bits=hw.a_bits,
                   w_bits=hw.w_bits, acc_bits=hw.acc_bits, sram_a_bytes=hw.sram_a_kib * KIB,
                   sram_b_bytes=hw.sram_b_kib * KIB, sram_c_bytes=hw.sram_c_kib * KIB,
                   double_buffered=hw.double_buffered,
                   dram_bw_bytes_per_cycle=hw.dram_bw_bytes_per_cycle,
                   dram_latency_cycles=hw.dram_latency_cycles, recomb_lanes=hw.recomb_lanes,
                   unpack_lanes=getattr(hw, "unpack_lanes", 0))

    def stored(self, shape: "PassShape") -> "MemoryParams":
        """These params with A/B at the widths `shape` stores them (bits per low-bit element)."""
        if not (shape.a_store_bits or shape.b_store_bits):
            return self
        return dataclasses.replace(self, a_bits=shape.a_store_bits or self.a_bits,
                                   w_bits=shape.b_store_bits or self.w_bits)

    def bits(self, operand: str) -> int:
        return {"A": self.a_bits, "B": self.w_bits, "C": self.acc_bits}[operand]

    def capacity(self, operand: str) -> float:
        """Bytes one slot of the operand's buffer holds (half the buffer if double-buffered)."""
        size = {"A": self.sram_a_bytes, "B": self.sram_b_bytes, "C": self.sram_c_bytes}[operand]
        return size / 2 if self.double_buffered else size


@dataclass(frozen=True)
class PassShape:
    """One array pass: a low-bit GEMM (M x K x N). `base_rows` / `base_cols` = leading rows /
    columns of C that need no recombination (the original lines, in the first pass); 0 in
    later scale passes. The remaining fields describe the data path (imsim.datapath):
    operands stored wider than the MAC width and sliced on chip, and C's output precision."""

    M: int
    K: int
    N: int
    base_rows: int
    base_cols: int
    a_store_bits: Any = 0   # bits per low-bit A element moved and held in SRAM (0: a_bits)
    b_store_bits: Any = 0   # same for B (exact Fractions: stored bytes / low-bit elements)
    unpack_a: int = 0       # unpack-unit ops per low-bit A element read from SRAM (0: no unit)
    unpack_b: int = 0
    out_bits: int = 0       # precision of C as written back (0: acc_bits)
    direct: Any = None      # outputs are C itself (no recombination at all): written straight
                            # back; None: when base_rows == M and base_cols == N


@dataclass(frozen=True)
class Step:
    """One chunk of one fold: DRAM load bytes, array cycles, recombination ops, write bytes."""

    load_bytes: int
    compute_cycles: float
    recomb_ops: int
    write_bytes: int
    counters: tuple  # bytes per COUNTERS entry
    slots: int = 2   # input chunks in flight: the load of step i waits for step i - slots
    lines: int = 1              # temporal lines of the chunk (cut-through granularity)
    unpack_ops: int = 0         # low-bit elements the unpack unit produces for this step
    unpack_extra: float = 0.0   # cycles the unpack unit adds beyond the array's (rate-bound)


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
    stall_cycles: int                # cycles - compute - recomb - unpack: waiting on memory
    recomb_cycles: int               # exposed recombination cycles (tail after the array)
    recomb_busy_cycles: int          # recombination unit busy cycles (overlapped or not)
    recomb_ops: int                  # shift-and-add element operations
    steps: int                       # fold chunks in the full schedule
    simulated_steps: int             # steps actually run through simpy
    chunk_len: tuple                 # temporal chunk length per pass (elements)
    bands: tuple                     # temporal bands per pass (ws/is C panel re-tiling; 1 = none)
    folds: int                       # array folds over all passes and bands
    fill_cycles: int                 # exposed array fill cycles (array timing model)
    drain_cycles: int                # exposed array drain cycles
    mapping_efficiency: float        # fold-weighted mean mapping efficiency
    peak_bw_demand_bytes_per_cycle: float   # max over steps of DRAM bytes to hide / compute cycles
    dram_read_bytes: int
    dram_write_bytes: int
    dram_a_read_bytes: int
    dram_b_read_bytes: int
    sram_a_read_bytes: int
    sram_a_write_bytes: int
    sram_b_read_bytes: int
    sram_b_write_bytes: int
    sram_c_read_bytes: int
    sram_c_write_bytes: int
    dram_spill_read_bytes: int = 0   # spilled partials and their C destinations read back
    spilled_outputs: int = 0         # partial outputs spilled to DRAM (C tile did not fit)
    unpack_ops: int = 0              # low-bit elements produced by the unpack unit
    unpack_cycles: int = 0           # cycles the unpack unit adds beyond the array's (rate-bound)
    stream_cycles: int = 0           # folds x temporal length summed over bands (array model)

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
        d["bands"] = list(self.bands)
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
    one temporal line does not fit). The schedule balances it per band (see `balanced`)."""
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
                f"one line of the streamed {op} tile ({lines} x {float(p.bits(op)):g} bits"
                f"{', double-buffered' if p.double_buffered else ''}); need at least {need:g} KiB")
        limits.append(fit)
    return max(1, min([T] + limits))


def check_buffers(hw) -> None:
    """UserError naming the sram_*_kib key when a buffer of `hw` (a HwConfig) cannot hold one
    line of its streamed tile, so a design is refused when it is loaded, not mid-simulation."""
    p = MemoryParams.from_hw(hw)
    _chunk_len(p, ROLES[p.dataflow], 1)


def transfer_plan(p: MemoryParams, roles: dict, T: int, fit: int) -> tuple[int, int]:
    """(chunk length, input slots) of a fold's temporal axis of length T; `fit` = the longest
    chunk whose streamed tiles fit one buffer slot each (`_chunk_len`): the fewest chunks of at
    most `fit` lines, balanced to equal lengths (no short remainder chunk); 2 slots when
    double-buffered, else 1. Chunks are streamed cut-through (the array starts on a chunk's
    first line, see _simulate), so a longer chunk does not expose a longer head or tail."""
    return balanced(T, fit), (2 if p.double_buffered else 1)


def balanced(total: int, longest: int) -> int:
    """Length of equal chunks covering `total` in the fewest chunks of at most `longest`:
    ceil(total / ceil(total / longest)). The chunk count never grows when `longest` does, and the
    chunks differ by at most one line (no short remainder chunk)."""
    longest = max(1, min(total, longest))
    return -(-total // -(-total // longest))


TEMPORAL = {"os": "K", "ws": "M", "is": "N"}
SPATIAL = {"os": ("M", "N"), "ws": ("K", "N"), "is": ("K", "M")}  # (row axis, column axis)


def band_len(p: MemoryParams, shape: PassShape) -> int:
    """Temporal band length of a pass: ws/is keep the C partial sums of one column fold
    (cols x band x acc_bits) in one C buffer slot across all K folds, so the temporal axis is cut
    into the fewest balanced bands that fit; os (outputs stay in the PEs) and panels that fit
    use one band. build_schedule adds a candidate with shorter bands that keep the rt operand
    resident."""
    T = {"M": shape.M, "K": shape.K, "N": shape.N}[TEMPORAL[p.dataflow]]
    if p.dataflow == "os" or packed_bytes(p.acc_bits, p.cols * T) <= p.capacity("C"):
        return T
    return balanced(T, int(p.capacity("C") // (p.acc_bits * p.cols / 8)))


def build_schedule(p: MemoryParams, shape: PassShape, timing: str = "pipelined") -> list[tuple[Rep, list, int]]:
    """Candidate schedules of one pass: [(step tree, [(ComputeTiming, count)] of its bands,
    temporal chunk length)], the first with the fewest bands.

    Loop order: temporal bands (ws/is only, see band_len) > column folds > row folds > temporal
    chunks; the folds inside a band follow imsim.array (column folds outer, row folds inner)
    and each band is mapped and timed on its own (own fills and drains). Chunks: the temporal
    axis of a fold is cut into chunks whose streamed tiles fit one buffer slot (transfers only;
    the array streams on). Reuse: the rt operand (row axis x temporal) is loaded once per band
    if the band's whole operand fits its slot, else every fold; os's B panel (column fold x K)
    once per column fold if it fits, else every fold; the stationary input tile (ws's B, is's
    A) at each fold's first chunk. Outputs: os writes each fold's C tile after its last chunk;
    ws/is add each fold's partial sums (acc_bits) into the C buffer and write the final chunk
    after the last row fold (K) of the column fold.
    """
    p = p.stored(shape)
    roles = ROLES[p.dataflow]
    row_ax, col_ax = SPATIAL[p.dataflow]
    t_ax = TEMPORAL[p.dataflow]
    ext = {"M": shape.M, "K": shape.K, "N": shape.N}
    out_bits = shape.out_bits or p.acc_bits
    direct = (shape.base_rows == shape.M and shape.base_cols == shape.N) if shape.direct is None else shape.direct
    unpack = {"A": shape.unpack_a, "B": shape.unpack_b, "C": 0}
    base = {"M": shape.base_rows, "N": shape.base_cols, "K": 0}
    R_tot, C_tot, T = ext[row_ax], ext[col_ax], ext[t_ax]
    ch = _chunk_len(p, roles, T)
    rt, ct, rc = roles["rt"], roles["ct"], roles["rc"]
    out_is_rc = rc == "C"
    ct_panel_fits = ct == "C" or packed_bytes(p.bits(ct), p.cols * T) <= p.capacity(ct)

    def band_tree(Tb: int, base_t: int) -> tuple[Rep, object]:
        dims = dict(ext)
        dims[t_ax] = Tb
        ctm = compute_timing(dims["M"], dims["K"], dims["N"], p.rows, p.cols, p.dataflow, timing)
        per_elem = ctm.cycles / ctm.folds / Tb  # array cycles per temporal element of a fold
        rt_resident = packed_bytes(p.bits(rt), R_tot * Tb) <= p.capacity(rt)
        outer = _segments(C_tot, p.cols, base[col_ax], ("first",))
        inner = _segments(R_tot, p.rows, base[row_ax], ("first", "last"))
        L, slots = transfer_plan(p, roles, Tb, ch)
        chunks = _segments(Tb, L, base_t, ("first", "last"))
        # C tile held on chip at output precision while recombination adds into it: os a
        # rows x cols fold tile, ws/is the cols x band panel; partials spill when it does not fit
        tile = p.rows * p.cols if out_is_rc else p.cols * Tb
        spill = packed_bytes(out_bits, tile) > p.capacity("C") and not direct

        def step(o: tuple, i: tuple, c: tuple) -> Step:
            csize, cbase, o_first, _ = o
            rsize, rbase, i_first, i_last = i
            tsize, tbase, t_first, t_last = c
            cnt = [0] * len(COUNTERS)
            load = write = recomb = 0

            def fetch(op: str, nbytes: int) -> int:
                cnt[_IDX[f"dram_{op.lower()}_read_bytes"]] += nbytes
                cnt[_IDX[f"sram_{op.lower()}_write_bytes"]] += nbytes
                return nbytes

            rt_bytes = packed_bytes(p.bits(rt), rsize * tsize)
            if not rt_resident or o_first:
                load += fetch(rt, rt_bytes)
            cnt[_IDX[f"sram_{rt.lower()}_read_bytes"]] += rt_bytes
            unpack_ops = unpack[rt] * rsize * tsize
            ct_bytes = packed_bytes(p.bits(ct), csize * tsize)
            if ct != "C":  # os: B panel, reused across the row folds of a column fold
                if not ct_panel_fits or i_first:
                    load += fetch(ct, ct_bytes)
                cnt[_IDX[f"sram_{ct.lower()}_read_bytes"]] += ct_bytes
                unpack_ops += unpack[ct] * csize * tsize
            else:  # ws/is: C partial sums of this chunk, accumulated over the row folds (K)
                cnt[_IDX["sram_c_write_bytes"]] += ct_bytes
                if not i_first:
                    cnt[_IDX["sram_c_read_bytes"]] += ct_bytes  # read-modify-write
                if i_last:  # final partial sums of the chunk: read out once
                    cnt[_IDX["sram_c_read_bytes"]] += ct_bytes
                    rows_, brows = (tsize, tbase) if p.dataflow == "ws" else (csize, cbase)
                    cols_, bcols = (csize, cbase) if p.dataflow == "ws" else (tsize, tbase)
                    w, r = _outputs(rows_ * cols_, brows * bcols, out_bits, p.acc_bits, spill, cnt, direct)
                    write += w
                    recomb += r
            rc_bytes = packed_bytes(p.bits(rc), rsize * csize)
            if not out_is_rc:  # stationary input tile enters the PEs at the fold's first chunk
                if t_first:
                    load += fetch(rc, rc_bytes)
                    cnt[_IDX[f"sram_{rc.lower()}_read_bytes"]] += rc_bytes
                    unpack_ops += unpack[rc] * rsize * csize
            elif t_last:  # os: the C tile leaves the PEs after the fold's last chunk
                cnt[_IDX["sram_c_write_bytes"]] += rc_bytes  # drained at acc_bits ...
                cnt[_IDX["sram_c_read_bytes"]] += rc_bytes   # ... and read out once
                w, r = _outputs(rsize * csize, rbase * cbase, out_bits, p.acc_bits, spill, cnt, direct)
                write += w
                recomb += r
            cnt[_IDX["dram_write_bytes"]] += write
            cnt[_IDX["unpack_ops"]] += unpack_ops
            compute = per_elem * tsize
            extra = max(0.0, unpack_ops / p.unpack_lanes - compute) if unpack_ops and p.unpack_lanes else 0.0
            return Step(load_bytes=load, compute_cycles=compute + extra, recomb_ops=recomb,
                        write_bytes=write, counters=tuple(cnt), slots=slots, lines=tsize,
                        unpack_ops=unpack_ops, unpack_extra=extra)

        tree = Rep(1, tuple(
            Rep(on, tuple(
                Rep(inn, tuple(Rep(cn, (step(o, i, c),)) for c, cn in chunks))
                for i, inn in inner))
            for o, on in outer))
        return tree, ctm

    def banded(bl: int) -> tuple[Rep, list]:
        reps, timings = [], []
        for (Tb, bb, _, _), count in _segments(T, bl, base[t_ax], ()):
            tree, ctm = band_tree(Tb, bb)
            reps.append(Rep(count, (tree,)))
            timings.append((ctm, count))
        return Rep(1, tuple(reps)), timings

    band = band_len(p, shape)
    out = [(*banded(band), transfer_plan(p, roles, band, ch)[0])]
    # shorter bands reload the stationary tiles more often but may keep the rt operand's band
    # resident in its slot: the longest such band is a second candidate (simulate_memory keeps
    # the faster of the two)
    fit_rt = int(p.capacity(rt) * 8 // (p.bits(rt) * R_tot))
    if p.dataflow != "os" and 1 <= fit_rt and balanced(T, min(band, fit_rt)) < band:
        short = balanced(T, min(band, fit_rt))
        out.append((*banded(short), transfer_plan(p, roles, short, ch)[0]))
    return out


def _outputs(elems: int, base: int, out_bits: int, acc_bits: int, spill: bool, cnt: list,
             direct: bool = False) -> tuple[int, int]:
    """Traffic of `elems` final array outputs of which `base` are original C elements
    (docs/model-memory.md, "C data path"). Returns (DRAM write bytes, recombination ops now).

    On chip (the C tile fits at out_bits): base elements are stored into the C tile, every other
    element is added into its destination by the recombination unit (read-modify-write at
    out_bits), and the tile is read once and written back at out_bits. Spilled: base elements
    are written back at out_bits, the others at acc_bits, to be added later (`spill_step`).
    Direct (nothing to recombine): the drained tile is written back as it is, at out_bits."""
    extra = elems - base
    if direct:
        return packed_bytes(out_bits, elems), 0
    if not spill:
        cnt[_IDX["sram_c_write_bytes"]] += packed_bytes(out_bits, base) + packed_bytes(out_bits, extra)
        cnt[_IDX["sram_c_read_bytes"]] += packed_bytes(out_bits, extra) + packed_bytes(out_bits, base)
        return packed_bytes(out_bits, base), extra
    cnt[_IDX["spilled_outputs"]] += extra
    return packed_bytes(out_bits, base) + packed_bytes(acc_bits, extra), 0


def spill_step(extra: int, out_bits: int, acc_bits: int) -> Step:
    """The recombination of spilled partials after the array: each of the `extra` partial
    outputs is read back (acc_bits) and added into its destination C element in DRAM, a
    read-modify-write at out_bits, by the recombination unit."""
    cnt = [0] * len(COUNTERS)
    rd = packed_bytes(acc_bits, extra) + packed_bytes(out_bits, extra)
    wr = packed_bytes(out_bits, extra)
    cnt[_IDX["dram_spill_read_bytes"]] = rd
    cnt[_IDX["dram_write_bytes"]] = wr
    return Step(load_bytes=rd, compute_cycles=0.0, recomb_ops=extra, write_bytes=wr,
                counters=tuple(cnt), slots=1)


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


def _unpack_extra(node: Node) -> float:
    """Total cycles the unpack unit adds beyond the array's over the full tree."""
    if isinstance(node, Step):
        return node.unpack_extra
    return node.count * sum(_unpack_extra(c) for c in node.body)


# --------------------------------------------------------------------------- simulation


@dataclass
class _Inst:
    """A simulated repeat: its full count and, per simulated iteration, (first, last) step
    index and the child repeat instances."""

    count: int
    iters: list


def _flatten(node: Rep, out: list, max_iter: int) -> _Inst:
    inst = _Inst(node.count, [])
    c = min(node.count, max_iter)
    if (node.count - c) % 2:
        c += 1  # skip an even number of iterations: keeps the phase of an alternating steady state
    for _ in range(c):
        lo = len(out)
        kids = []
        for child in node.body:
            if isinstance(child, Step):
                out.append(child)
            else:
                kids.append(_flatten(child, out, max_iter))
        inst.iters.append((lo, len(out) - 1, kids))
    return inst


def _skipped(inst: _Inst, times: np.ndarray, stall_cum: np.ndarray) -> tuple[float, float, bool]:
    """(time, stall, steady) of the iterations not simulated, from the steady-state period.

    Iteration j's real duration = simulated span + what its nested repeats skipped. The period
    is the mean of iterations c-3 and c-2 (the last simulated one, c-1, is followed by a
    different block, exactly as the real last iteration is; pairs absorb a steady state that
    alternates). `steady` is False when the pair before (c-4, c-3) disagrees: the transient has
    not died out and the caller simulates more iterations.
    """
    t_skip = s_skip = 0.0
    steady = True
    inner_t, inner_s = [], []
    for _, _, kids in inst.iters:
        t = s = 0.0
        for k in kids:
            kt, ks, ok = _skipped(k, times, stall_cum)
            t += kt
            s += ks
            steady = steady and ok
        inner_t.append(t)
        inner_s.append(s)
        t_skip += t
        s_skip += s
    c = len(inst.iters)
    if inst.count > c:
        def marks(j: int) -> np.ndarray:
            """When iteration j's last step was computed / landed, and its last write-back."""
            lo, hi, _ = inst.iters[j]
            w = times[2, lo:hi + 1]
            return np.array([times[0, hi], times[1, hi], np.nanmax(w) if np.any(~np.isnan(w)) else np.nan])

        def pair(j0: int) -> tuple[np.ndarray, float]:
            """Mean period of iterations j0, j0+1 per process (array, loader, writer), and stalls."""
            lo, hi = inst.iters[j0][0], inst.iters[j0 + 1][1]
            period = ((marks(j0 + 1) - marks(j0 - 1)) + inner_t[j0] + inner_t[j0 + 1]) / 2
            stall = ((stall_cum[hi + 1] - stall_cum[lo]) + inner_s[j0] + inner_s[j0 + 1]) / 2
            return period, stall

        periods, stall = pair(c - 3)
        before, _ = pair(c - 4)
        period = float(periods[0])
        tol = 1e-6 * max(1.0, abs(period))
        with np.errstate(invalid="ignore"):
            same = (np.isnan(periods) & np.isnan(before)) | (np.abs(periods - before) <= tol)
            aligned = np.isnan(periods) | (np.abs(periods - period) <= tol)
        steady = steady and bool(np.all(same)) and bool(np.all(aligned))
        t_skip += (inst.count - c) * period
        s_skip += (inst.count - c) * stall
    return t_skip, s_skip, steady


def _simulate(steps: Sequence[Step], p: MemoryParams) -> tuple[np.ndarray, np.ndarray, float, float, list]:
    """Run the steps through simpy. Returns per-step times (rows: compute end, operands landed,
    write-back done or NaN), stall cycles, the array's end time, the overall end time and the
    recombination busy intervals.

    Buffer slots are expressed as event dependencies: the load of step i waits for the compute
    of step i - slots (its slot is then free); the compute of the j-th output-producing step
    waits for the write-back of output j - slots (its C slot is then free). Loads are streamed
    cut-through: the array starts a step once its first temporal line has landed and ends it no
    earlier than one line's compute after the last line landed.
    """
    env = simpy.Environment()
    slots = 2 if p.double_buffered else 1
    n = len(steps)
    issued = [env.event() for _ in range(n)]
    done = [env.event() for _ in range(n)]
    first_t = np.zeros(n)
    out_steps = [i for i, s in enumerate(steps) if s.write_bytes or s.recomb_ops]
    out_ready = [env.event() for _ in out_steps]
    written = [env.event() for _ in out_steps]
    end = np.zeros(n)
    stall = np.zeros(n)
    land_t = np.zeros(n)
    write_t = np.full(n, np.nan)
    recomb_spans: list = []
    bw, lat, lanes = p.dram_bw_bytes_per_cycle, p.dram_latency_cycles, p.recomb_lanes

    channel = [0.0]  # DRAM channel reservation calendar: when it is next free (FIFO)

    def transfer(nbytes: float):
        """Hold the DRAM channel for nbytes / bw cycles, after the transfers already booked."""
        start = max(env.now, channel[0])
        channel[0] = start + nbytes / bw
        return env.timeout(channel[0] - env.now)

    def loader():
        for i, st in enumerate(steps):
            k = st.slots if p.double_buffered else 1
            if i >= k and not done[i - k].triggered:
                yield done[i - k]
            if st.load_bytes:
                start = max(env.now, channel[0])
                hold = transfer(st.load_bytes)
                first_t[i] = start + st.load_bytes / max(1, st.lines) / bw + lat
                land_t[i] = channel[0] + lat
                issued[i].succeed()
                yield hold
                continue
            first_t[i] = land_t[i] = env.now
            issued[i].succeed()

    def array():
        j = 0
        for i, st in enumerate(steps):
            t0 = env.now
            if not issued[i].triggered:
                yield issued[i]
            if first_t[i] > env.now:  # cut-through: start once the chunk's first line landed
                yield env.timeout(first_t[i] - env.now)
            has_out = j < len(out_steps) and out_steps[j] == i
            if has_out and j >= slots and not written[j - slots].triggered:
                yield written[j - slots]
            # ... and finish no earlier than the last line's compute after the whole chunk landed
            finish = max(env.now + st.compute_cycles, land_t[i] + st.compute_cycles / max(1, st.lines))
            stall[i] = env.now - t0 + finish - env.now - st.compute_cycles
            yield env.timeout(finish - env.now)
            end[i] = env.now
            done[i].succeed()
            if has_out:
                out_ready[j].succeed()
                j += 1

    def writer():
        for j, i in enumerate(out_steps):
            if not out_ready[j].triggered:
                yield out_ready[j]
            st = steps[i]
            if st.recomb_ops:
                t0 = env.now
                yield env.timeout(st.recomb_ops / lanes)
                recomb_spans.append((t0, env.now))
            if st.write_bytes:
                yield transfer(st.write_bytes)
            write_t[i] = env.now
            written[j].succeed()

    env.process(loader())
    env.process(array())
    env.process(writer())
    env.run()
    return (np.stack([end, land_t, write_t]), stall, float(end[-1]) if n else 0.0, float(env.now),
            recomb_spans)


def _run(root: Rep, p: MemoryParams, max_iterations: int) -> tuple[list, float, float, list]:
    """Simulate a step tree: (simulated steps, total cycles, array end, recombination spans)."""
    n_steps = _totals(root)[3]
    iterations = max_iterations
    while True:  # more iterations until every truncated repeat reached its steady state
        flat: list[Step] = []
        inst = _flatten(root, flat, iterations)
        times, stall, array_end, sim_end, spans = _simulate(flat, p)
        stall_cum = np.concatenate([[0.0], np.cumsum(stall)])
        t_skip, _, steady = _skipped(inst, times, stall_cum)
        if steady or len(flat) >= n_steps:
            return flat, sim_end + t_skip, array_end, spans
        iterations *= 2


def simulate_memory(p: MemoryParams, passes: Sequence[PassShape], *, timing: str = "pipelined",
                    max_iterations: int = 6) -> MemoryResult:
    """Simulate the pipeline for a sequence of array passes (one per K scale class, or one).

    timing: the array timing mode ('pipelined' or 'scalesim') for the compute of each band.
    max_iterations (>= 6): iterations of each repeated block run through simpy before the
    steady-state period is extrapolated; doubled until every block is steady.
    """
    if max_iterations < 6:
        raise ValueError("max_iterations must be >= 6")
    trees, chunk, timings, bands = [], [], [], []
    run = None
    for shape in passes:
        cands = build_schedule(p, shape, timing)
        if len(cands) > 1:  # the faster candidate, each simulated alone
            runs = [_run(Rep(1, (c[0],)), p, max_iterations) for c in cands]
            k = min(range(len(cands)), key=lambda i: runs[i][1])
            (tree, tms, ch), run = cands[k], runs[k]
        else:
            (tree, tms, ch), run = cands[0], None
        trees.append(tree)
        chunk.append(ch)
        timings += tms
        bands.append(sum(n for _, n in tms))
    spilled = int(sum(_totals(t)[0][_IDX["spilled_outputs"]] for t in trees))
    if spilled:  # recombine the spilled partials after the array (read back, add into C in DRAM)
        out_bits = passes[0].out_bits or p.acc_bits
        trees.append(Rep(1, (spill_step(spilled, out_bits, p.acc_bits),)))
    root = Rep(1, tuple(trees))
    cnt, ops, _, n_steps = _totals(root)
    unpack_cycles = int(round(_unpack_extra(root)))
    folds = sum(t.folds * n for t, n in timings)
    if run is None or len(trees) > 1:
        run = _run(root, p, max_iterations)
    flat, total, array_end, spans = run
    recomb_tail = exposed_cycles(spans, array_end)
    cycles = int(round(total))
    if timing == "scalesim":  # SCALE-Sim's count ignores SRAM sizes: bands show up as stalls
        compute = sum(compute_timing(sh.M, sh.K, sh.N, p.rows, p.cols, p.dataflow, timing).cycles
                      for sh in passes)
    else:
        compute = sum(t.cycles * n for t, n in timings)
    recomb_exposed = int(round(recomb_tail))
    stall_cycles = max(0, cycles - compute - recomb_exposed - unpack_cycles)
    peak = 0.0
    for i, st in enumerate(flat):
        nxt = flat[i + 1].load_bytes if i + 1 < len(flat) else 0
        if st.compute_cycles > 0:
            peak = max(peak, (nxt + st.write_bytes) / st.compute_cycles)
    c = dict(zip(COUNTERS, (int(x) for x in cnt)))
    return MemoryResult(
        cycles=cycles, compute_cycles=compute, stall_cycles=stall_cycles,
        recomb_cycles=recomb_exposed, recomb_busy_cycles=int(math.ceil(ops / p.recomb_lanes)) if ops else 0,
        recomb_ops=int(ops), steps=int(n_steps), simulated_steps=len(flat), chunk_len=tuple(chunk),
        bands=tuple(bands), folds=folds, fill_cycles=sum(t.fill_cycles * n for t, n in timings),
        drain_cycles=sum(t.drain_cycles * n for t, n in timings),
        mapping_efficiency=sum(t.mapping_efficiency * t.folds * n for t, n in timings) / max(1, folds),
        peak_bw_demand_bytes_per_cycle=float(peak),
        dram_read_bytes=c["dram_a_read_bytes"] + c["dram_b_read_bytes"] + c["dram_spill_read_bytes"],
        dram_spill_read_bytes=c["dram_spill_read_bytes"], spilled_outputs=c["spilled_outputs"],
        unpack_ops=c["unpack_ops"], unpack_cycles=unpack_cycles,
        stream_cycles=sum(t.stream_cycles * n for t, n in timings),
        dram_write_bytes=c["dram_write_bytes"], dram_a_read_bytes=c["dram_a_read_bytes"],
        dram_b_read_bytes=c["dram_b_read_bytes"],
        sram_a_read_bytes=c["sram_a_read_bytes"], sram_a_write_bytes=c["sram_a_write_bytes"],
        sram_b_read_bytes=c["sram_b_read_bytes"], sram_b_write_bytes=c["sram_b_write_bytes"],
        sram_c_read_bytes=c["sram_c_read_bytes"], sram_c_write_bytes=c["sram_c_write_bytes"],
    )
