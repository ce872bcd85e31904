"""Memory pipeline: traffic counts, reuse, re-tiling, stalls, steady-state compression."""
import pytest
from hypothesis import given, settings, strategies as st

from imsim.array import compute_timing
from imsim.errors import UserError
from imsim.hwconfig import HwConfig
from imsim.memory import MemoryParams, PassShape, packed_bytes, simulate_memory


def _run(hw, M, K, N, base=True, **kw):
    ct = compute_timing(M, K, N, hw.rows, hw.cols, hw.dataflow)
    shape = PassShape(M, K, N, M if base else 0, N if base else 0)
    return simulate_memory(MemoryParams.from_hw(hw), [shape], **kw), ct


def test_packed_bytes():
    assert packed_bytes(4, 3) == 2
    assert packed_bytes(8, 5) == 5
    assert packed_bytes(2, 4) == 1
    assert packed_bytes(32, 3) == 12


def test_os_traffic_with_everything_resident():
    # 8x8x8 on a 4x4 os array, int8, acc 32: A and B read once, C written once at 4 bytes
    hw = HwConfig(rows=4, cols=4, dataflow="os", dram_latency_cycles=0)
    res, ct = _run(hw, 8, 8, 8)
    assert res.dram_a_read_bytes == 8 * 8
    assert res.dram_b_read_bytes == 8 * 8
    assert res.dram_write_bytes == 8 * 8 * 4
    assert res.compute_cycles == ct.cycles
    # the array reads its whole A row panel and B column panel every fold (4 folds)
    assert res.sram_a_read_bytes == 4 * 4 * 8
    assert res.sram_b_read_bytes == 4 * 8 * 4
    assert res.recomb_ops == 0


def test_os_reloads_a_when_it_does_not_fit():
    # A (64 x 64 int8 = 4 KiB) no longer fits a 2 KiB slot: reloaded every fold (2 column folds)
    hw = HwConfig(rows=16, cols=32, dataflow="os", sram_a_kib=4.0)
    res, _ = _run(hw, 64, 64, 64)
    assert res.dram_a_read_bytes == 2 * 64 * 64
    big = HwConfig(rows=16, cols=32, dataflow="os", sram_a_kib=64.0)
    res2, _ = _run(big, 64, 64, 64)
    assert res2.dram_a_read_bytes == 64 * 64


def test_retiles_temporal_axis_into_chunks_that_fit():
    # streamed B panel: 32 cols x K=512 bytes = 16 KiB, slot 1 KiB -> chunks of 32 along K
    hw = HwConfig(rows=32, cols=32, dataflow="os", sram_b_kib=2.0)
    res, _ = _run(hw, 64, 512, 64)
    assert res.chunk_len == (32,)
    assert res.steps == 4 * (512 // 32)
    ample = HwConfig(rows=32, cols=32, dataflow="os")
    res2, _ = _run(ample, 64, 512, 64)
    assert res2.chunk_len == (512,)
    assert res.compute_cycles == res2.compute_cycles
    # balanced: 320 lines fit a 10 KiB slot -> 2 chunks of 256, not 320 + 192
    res3, _ = _run(HwConfig(rows=32, cols=32, dataflow="os", sram_b_kib=20.0), 64, 512, 64)
    assert res3.chunk_len == (256,)


GRID_KIB = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("buffer", ["a", "b", "c"])
def test_cycles_never_increase_when_a_buffer_grows(dataflow, buffer):
    """Balanced chunks and bands, streamed cut-through: on a grid of sizes (the other two
    buffers at 32 KiB), cycles are non-increasing in each SRAM buffer (docs/model-memory.md)."""
    for shape in ((512, 768, 3072), (100, 300, 50)):
        prev = None
        for kib in GRID_KIB:
            hw = HwConfig(dataflow=dataflow, **{f"sram_{x}_kib": (kib if x == buffer else 32) for x in "abc"})
            r = simulate_memory(MemoryParams.from_hw(hw), [PassShape(*shape, shape[0], shape[2])])
            if prev is not None:
                assert r.cycles <= prev[1], (shape, prev, (kib, r.cycles))
            prev = (kib, r.cycles)


def test_issue_spike_is_gone():
    # issue 13: the shipped 64 KiB default sat on a spike (269,644 cycles vs 204,613 at 48 KiB)
    cyc = {}
    for kib in (48, 64):
        hw = HwConfig(sram_a_kib=kib, sram_b_kib=kib, sram_c_kib=kib)
        cyc[kib] = simulate_memory(MemoryParams.from_hw(hw), [PassShape(128, 768, 3072, 128, 3072)]).cycles
    assert cyc[64] <= cyc[48]


@settings(max_examples=30, deadline=None)
@given(M=st.integers(1, 400), K=st.integers(1, 400), N=st.integers(1, 400),
       rows=st.integers(1, 40), cols=st.integers(1, 40), dataflow=st.sampled_from(["os", "ws", "is"]),
       kib=st.lists(st.sampled_from([1.0, 2.0, 8.0, 64.0, 512.0]), min_size=3, max_size=3),
       bw=st.sampled_from([1.0, 8.0, 64.0]))
def test_scalesim_compute_cycles_ignore_sram_sizes(M, K, N, rows, cols, dataflow, kib, bw):
    """`scalesim` mode: compute cycles = SCALE-Sim 3.0.0's closed form, F*(fill + T + drain) - 1
    (tests/test_array.py checks it against measured SCALE-Sim), whatever the SRAM sizes; bands
    of a C buffer too small for the partial sums show up as stalls."""
    hw = HwConfig(rows=rows, cols=cols, dataflow=dataflow, dram_bw_bytes_per_cycle=bw,
                  sram_a_kib=kib[0], sram_b_kib=kib[1], sram_c_kib=kib[2])
    try:
        r = simulate_memory(MemoryParams.from_hw(hw), [PassShape(M, K, N, M, N)], timing="scalesim")
    except UserError:  # a buffer below one line is refused, in every mode
        return
    T = {"os": K, "ws": M, "is": N}[dataflow]
    S_r, S_c = {"os": (M, N), "ws": (K, N), "is": (K, M)}[dataflow]
    F = -(-S_r // rows) * -(-S_c // cols)
    per_fold = (T + rows + cols - 2) if dataflow == "os" else (2 * rows + cols + T - 2)
    assert r.compute_cycles == max(1, F * per_fold - 1)
    assert r.cycles >= r.compute_cycles


def test_refuses_a_buffer_smaller_than_one_line():
    hw = HwConfig(rows=4096, cols=32, dataflow="os", a_bits=16, acc_bits=40, sram_a_kib=4.0)
    with pytest.raises(UserError, match="sram_a_kib"):
        _run(hw, 4096, 64, 64)


def test_ws_bands_the_streamed_axis_when_the_partial_sum_panel_does_not_fit():
    small = HwConfig(rows=32, cols=32, dataflow="ws", sram_c_kib=16.0)  # slot 8 KiB: 64 rows x 32 x 4 B
    big = HwConfig(rows=32, cols=32, dataflow="ws", sram_c_kib=256.0)
    r_small, _ = _run(small, 256, 128, 64)
    r_big, ct = _run(big, 256, 128, 64)
    assert r_small.bands[0] >= 4  # bands of at most 64 of the 256 streamed rows
    n = r_small.bands[0]
    band = compute_timing(256 // n, 128, 64, 32, 32, "ws")
    assert r_small.compute_cycles == n * band.cycles and r_small.folds == n * band.folds
    # partial sums never leave the chip; C written once; the stationary B reloaded per band
    for r in (r_small, r_big):
        assert r.dram_read_bytes == r.dram_a_read_bytes + r.dram_b_read_bytes
        assert r.dram_write_bytes == 256 * 64 * 4
        assert r.dram_b_read_bytes == r.bands[0] * 128 * 64
    # the bigger buffer may keep any band count the small one uses: never slower
    assert r_big.cycles <= r_small.cycles


def test_scalesim_timing_mode_is_passed_to_the_array_model():
    hw = HwConfig(rows=8, cols=8, dataflow="is")
    res = simulate_memory(MemoryParams.from_hw(hw), [PassShape(40, 30, 20, 40, 20)], timing="scalesim")
    assert res.compute_cycles == compute_timing(40, 30, 20, 8, 8, "is", "scalesim").cycles


def test_passes_add_up():
    hw = HwConfig(rows=8, cols=8, dataflow="os")
    p = MemoryParams.from_hw(hw)
    one = simulate_memory(p, [PassShape(40, 30, 20, 40, 20)])
    two = simulate_memory(p, [PassShape(40, 20, 20, 40, 20), PassShape(40, 10, 20, 0, 0)])
    assert two.folds == 2 * one.folds
    assert two.recomb_ops == 40 * 20
    # recombined on chip: C written back once; the second pass read-modify-writes the C tiles
    assert two.dram_write_bytes == one.dram_write_bytes == 40 * 20 * 4
    assert two.sram_c_read_bytes - one.sram_c_read_bytes == 2 * 40 * 20 * 4  # drain read + RMW read


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_stalls_when_bandwidth_is_cut_and_not_when_ample(dataflow):
    ample = HwConfig(rows=16, cols=16, dataflow=dataflow, dram_bw_bytes_per_cycle=1e7,
                     dram_latency_cycles=0)
    res, ct = _run(ample, 96, 80, 64)
    assert res.stall_cycles == 0
    assert res.cycles == ct.cycles
    cut = ample.replace(dram_bw_bytes_per_cycle=0.5)
    res2, _ = _run(cut, 96, 80, 64)
    assert res2.stall_cycles > 0
    assert res2.cycles >= res2.dram_bytes / 0.5  # DRAM-bound: the channel is the bottleneck
    assert res2.dram_bytes == res.dram_bytes


def test_latency_only_costs_a_prologue_when_double_buffered():
    hw = HwConfig(rows=16, cols=16, dataflow="os", dram_bw_bytes_per_cycle=1e7, dram_latency_cycles=100)
    res, ct = _run(hw, 64, 256, 64)
    assert 100 <= res.stall_cycles <= 101
    single = hw.replace(double_buffered=False)
    res1, _ = _run(single, 64, 256, 64)
    assert res1.stall_cycles > res.stall_cycles  # every load's latency is exposed


def test_recombination_of_extra_rows_is_counted_and_mostly_hidden():
    hw = HwConfig(rows=16, cols=16, dataflow="os", recomb_lanes=4)
    # 40 low-bit rows, the first 32 are base rows: 8 extra rows x 48 cols need shift-and-add
    res = simulate_memory(MemoryParams.from_hw(hw), [PassShape(40, 64, 48, 32, 48)])
    assert res.recomb_ops == 8 * 48
    assert res.recomb_busy_cycles == 8 * 48 // 4
    assert 0 < res.recomb_cycles <= res.recomb_busy_cycles


def test_peak_bandwidth_demand_reported():
    hw = HwConfig(rows=16, cols=16, dataflow="ws")
    res, _ = _run(hw, 64, 64, 64)
    assert res.peak_bw_demand_bytes_per_cycle > 0


@settings(max_examples=25, deadline=None)
@given(M=st.integers(1, 300), K=st.integers(1, 300), N=st.integers(1, 300),
       dataflow=st.sampled_from(["os", "ws", "is"]), db=st.booleans(),
       bw=st.sampled_from([0.5, 4.0, 64.0]), kib=st.sampled_from([1.0, 8.0, 64.0]),
       extra=st.integers(0, 40))
def test_steady_state_compression_matches_full_simulation(M, K, N, dataflow, db, bw, kib, extra):
    hw = HwConfig(rows=8, cols=8, dataflow=dataflow, double_buffered=db, dram_bw_bytes_per_cycle=bw,
                  sram_a_kib=kib, sram_b_kib=kib, sram_c_kib=kib, recomb_lanes=2)
    p = MemoryParams.from_hw(hw)
    shapes = [PassShape(M + extra, K, N, M, N)]
    fast = simulate_memory(p, shapes)
    full = simulate_memory(p, shapes, max_iterations=10**9)
    assert full.simulated_steps == full.steps
    # exact in a periodic steady state; a tolerance for rare long transients (see docs)
    assert abs(fast.cycles - full.cycles) <= 1 + 1e-3 * full.cycles
    assert abs(fast.stall_cycles - full.stall_cycles) <= 2 + 1e-3 * full.cycles
    assert fast.dram_bytes == full.dram_bytes and fast.sram_bytes == full.sram_bytes
    assert fast.recomb_ops == full.recomb_ops and fast.recomb_cycles == full.recomb_cycles


def test_issue_scalesim_example_no_longer_depends_on_the_c_buffer():
    # issue 13: 128x128, is, 512x768x3072 reported 128,730 compute cycles against SCALE-Sim's 82,895
    hw = HwConfig(rows=128, cols=128, dataflow="is")
    r = simulate_memory(MemoryParams.from_hw(hw), [PassShape(512, 768, 3072, 512, 3072)], timing="scalesim")
    assert r.bands[0] > 1  # the partial sums do not fit the 64 KiB C buffer ...
    assert r.compute_cycles == 24 * (2 * 128 + 128 + 3072 - 2) - 1 == 82895  # ... yet SCALE-Sim's count


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 5000), longest=st.integers(1, 5000), more=st.integers(0, 5000))
def test_balanced_chunks_property(total, longest, more):
    """Equal chunks: never more chunks when more lines fit, never longer than what fits, and no
    chunk shorter than the others by more than one line."""
    from imsim.memory import balanced

    L = balanced(total, longest)
    n = -(-total // L)
    assert L <= max(1, min(total, longest))
    assert n == -(-total // min(total, longest))           # the fewest chunks that fit
    assert total - (n - 1) * L >= L - n                     # the last chunk is not a short remainder
    L2 = balanced(total, longest + more)
    assert -(-total // L2) <= n                              # a bigger buffer never needs more chunks
