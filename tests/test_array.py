"""Tests of imsim.array: mapping of a GEMM onto the systolic array and its compute cycles."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.array import DATAFLOWS, TIMINGS, compute_timing, dataflow_module, map_gemm
from imsim.errors import UserError

# ---------------------------------------------------------------------------------------------
# Hand-derived cycle counts: a 4 x 4 array (R = C = 4), K = 8.
#
# Per fold (one dataflow's temporal length T streamed through the array):
#   os : fill = R + C - 2 = 6 (last PE's first MAC), stream T = K = 8, drain = R = 4
#        (pipelined) / 0 (SCALE-Sim 3.0.0 does not count the drain)
#   ws : fill = R (weight preload) + R + C - 2 (skew) = 10, stream T = M, drain = 0
#   is : fill = 10, stream T = N, drain = 0
# pipelined: cycles = fill + F*T + (F-1)*max(0, R-T) + drain   (folds every max(T, R) cycles)
# scalesim : cycles = F*(fill + T + drain_scalesim) - 1
#
# M = N = 4:
#   os: folds = ceil(4/4)*ceil(4/4) = 1 -> pipelined 6+8+4 = 18, scalesim 1*(6+8) - 1 = 13
#   ws: rows<-K: ceil(8/4) = 2, cols<-N: 1 -> F = 2, T = M = 4
#       pipelined 10 + 2*4 + 1*max(0, 4-4) + 0 = 18, scalesim 2*(10+4) - 1 = 27
#   is: rows<-K: 2, cols<-M: 1 -> F = 2, T = N = 4: same as ws, 18 and 27
# M = N = 8:
#   os: F = 2*2 = 4, T = 8 -> pipelined 6 + 32 + 0 + 4 = 42, scalesim 4*14 - 1 = 55
#   ws: F = 2*2 = 4, T = 8 -> pipelined 10 + 32 + 0 = 42, scalesim 4*18 - 1 = 71
#   is: same as ws, 42 and 71
# T < R (bubbles between folds), M = 2, N = 4 in ws / is, and os with M = 8, N = 4, K = 2:
#   ws M=2: F = 2, T = 2: one fold alone = 2R+C+M-2 = 12, the next starts max(2,4) = 4 later
#       -> 16 = 10 + 2*2 + 1*(4-2); scalesim 2*(10+2) - 1 = 23
#   os K=2: F = 2, T = 2: one fold alone = 2R+C+K-2 = 12, next starts 4 later -> 16;
#       scalesim 2*(6+2) - 1 = 15
HAND = [
    # (M, K, N, dataflow, pipelined, scalesim, folds)
    (4, 8, 4, "os", 18, 13, 1),
    (4, 8, 4, "ws", 18, 27, 2),
    (4, 8, 4, "is", 18, 27, 2),
    (8, 8, 8, "os", 42, 55, 4),
    (8, 8, 8, "ws", 42, 71, 4),
    (8, 8, 8, "is", 42, 71, 4),
    (2, 8, 4, "ws", 16, 23, 2),
    (4, 8, 2, "is", 16, 23, 2),
    (8, 2, 4, "os", 16, 15, 2),
]


@pytest.mark.parametrize("M,K,N,df,pipelined,scalesim,folds", HAND)
def test_hand_derived_4x4(M, K, N, df, pipelined, scalesim, folds):
    p = compute_timing(M, K, N, 4, 4, df, "pipelined")
    s = compute_timing(M, K, N, 4, 4, df, "scalesim")
    assert (p.cycles, s.cycles) == (pipelined, scalesim)
    assert p.folds == s.folds == folds
    assert p.macs == M * K * N
    assert p.utilization == pytest.approx(M * K * N / (16 * pipelined))
    assert s.utilization == pytest.approx(M * K * N / (16 * scalesim))


def test_default_timing_is_pipelined():
    assert compute_timing(8, 8, 8, 4, 4, "os") == compute_timing(8, 8, 8, 4, 4, "os", "pipelined")


@pytest.mark.parametrize("R,C,K", [(4, 4, 8), (8, 4, 3), (3, 16, 40), (32, 32, 1), (1, 1, 5)])
def test_os_full_tile_matches_rtl_contract(R, C, K):
    """The reference RTL counts first operand in -> last result out = 2R + C + K - 2."""
    t = compute_timing(R, K, C, R, C, "os", "pipelined")
    assert t.folds == 1
    assert t.cycles == t.fold_cycles == 2 * R + C + K - 2


@pytest.mark.parametrize("df", DATAFLOWS)
@pytest.mark.parametrize("R,C,T", [(4, 4, 8), (16, 8, 5), (1, 7, 3)])
def test_gemm_of_array_size_takes_one_fold(df, R, C, T):
    shape = {"os": (R, T, C), "ws": (T, R, C), "is": (C, R, T)}[df]
    for timing in TIMINGS:
        t = compute_timing(*shape, R, C, df, timing)
        assert t.folds == 1
        assert t.mapping_efficiency == 1.0
    # one more row/column of the spatial axes needs a second fold
    bigger = {"os": (R + 1, T, C), "ws": (T, R, C + 1), "is": (C, R + 1, T)}[df]
    assert compute_timing(*bigger, R, C, df).folds == 2


def test_mapping_axes_and_efficiency():
    m = map_gemm(5, 8, 7, 4, 4, "os")
    assert (m.stationary, m.row_dim, m.col_dim, m.temporal_dim) == ("C", "M", "N", "K")
    assert (m.row_folds, m.col_folds, m.folds) == (2, 2, 4)
    assert m.mapping_efficiency == pytest.approx(35 / 64)
    assert map_gemm(5, 8, 7, 4, 4, "ws").stationary == "B"
    assert map_gemm(5, 8, 7, 4, 4, "is").stationary == "A"
    assert map_gemm(5, 8, 7, 4, 4, "ws").mapping_efficiency == pytest.approx(56 / 64)
    assert map_gemm(5, 8, 7, 4, 4, "is").mapping_efficiency == pytest.approx(40 / 64)


def test_numpy_ints_accepted_and_bad_inputs_rejected():
    assert compute_timing(np.int64(8), 8, 8, np.int32(4), 4, "os").cycles == 42
    for args in [(0, 8, 8, 4, 4, "os"), (8, 8, 8, 4, -1, "os"), (8, 2.5, 8, 4, 4, "os"),
                 (8, 8, 8, 4, 4, "xs"), (True, 8, 8, 4, 4, "os")]:
        with pytest.raises(UserError):
            compute_timing(*args)
    with pytest.raises(UserError, match="timing"):
        compute_timing(8, 8, 8, 4, 4, "os", "fast")
    with pytest.raises(UserError, match="dataflow"):
        dataflow_module("OS")


# ---------------------------------------------------------------------------------------------
# Properties
dims = st.integers(1, 300)
arr = st.integers(1, 40)


@settings(max_examples=150, deadline=None)
@given(M=dims, K=dims, N=dims, R=arr, C=arr, df=st.sampled_from(DATAFLOWS),
       timing=st.sampled_from(TIMINGS), axis=st.integers(0, 2), grow=st.integers(1, 70))
def test_cycles_monotone_in_M_K_N(M, K, N, R, C, df, timing, axis, grow):
    shape = [M, K, N]
    before = compute_timing(*shape, R, C, df, timing)
    shape[axis] += grow
    after = compute_timing(*shape, R, C, df, timing)
    assert after.cycles >= before.cycles
    assert after.folds >= before.folds


@settings(max_examples=150, deadline=None)
@given(M=dims, K=dims, N=dims, R=arr, C=arr, df=st.sampled_from(DATAFLOWS))
def test_timing_identities(M, K, N, R, C, df):
    p = compute_timing(M, K, N, R, C, df, "pipelined")
    s = compute_timing(M, K, N, R, C, df, "scalesim")
    m = map_gemm(M, K, N, R, C, df)
    T = m.temporal
    assert p.cycles == p.fill_cycles + p.stream_cycles + p.bubble_cycles + p.drain_cycles
    assert s.cycles == max(1, s.fill_cycles + s.stream_cycles + s.drain_cycles - 1)
    assert p.stream_cycles == s.stream_cycles == m.folds * T
    assert p.cycles == (m.folds - 1) * max(T, R) + p.fold_cycles
    assert 0 < p.utilization <= p.mapping_efficiency <= 1
    assert p.mapping_efficiency == s.mapping_efficiency == m.mapping_efficiency
    # pipelining never loses more than the one drain SCALE-Sim 3.0.0 leaves out (os only)
    assert p.cycles <= s.cycles + 1 + (R if df == "os" else 0)


@settings(max_examples=60, deadline=None)
@given(M=st.integers(1, 40), K=st.integers(1, 40), N=st.integers(1, 40), R=st.integers(1, 12),
       C=st.integers(1, 12), df=st.sampled_from(DATAFLOWS))
def test_tiles_cover_gemm_exactly_once(M, K, N, R, C, df):
    m = map_gemm(M, K, N, R, C, df)
    count = np.zeros((M, K, N), dtype=np.int64)
    tiles = list(m.tiles())
    assert len(tiles) == m.folds
    ext = {"M": 0, "K": 1, "N": 2}
    for t in tiles:
        assert 0 <= t.m0 < t.m1 <= M and 0 <= t.k0 < t.k1 <= K and 0 <= t.n0 < t.n1 <= N
        shape = t.shape
        assert shape[ext[m.row_dim]] <= R and shape[ext[m.col_dim]] <= C
        assert shape[ext[m.temporal_dim]] == (M, K, N)[ext[m.temporal_dim]]
        count[t.m0:t.m1, t.k0:t.k1, t.n0:t.n1] += 1
    assert (count == 1).all()
    assert sum(t.macs for t in tiles) == M * K * N


def test_tile_order_column_folds_outer():
    tiles = list(map_gemm(5, 8, 7, 4, 4, "ws").tiles())
    # ws: rows <- K (inner loop), cols <- N (outer loop): both K folds of one N block in a row
    assert [(t.k0, t.n0) for t in tiles] == [(0, 0), (4, 0), (0, 4), (4, 4)]
    assert all((t.m0, t.m1) == (0, 5) for t in tiles)


# ---------------------------------------------------------------------------------------------
# Cross-check against SCALE-Sim. The rows below were MEASURED by running the PyPI package
# scalesim 3.0.0 (in its own venv, numpy 2.3.5; large SRAMs and CALC bandwidth, so 0 stall
# cycles) on GEMM topologies; see docs/model-array.md for the driver. Columns: M, K, N, rows,
# cols, dataflow, SCALE-Sim "total cycles" (compute report), mapping efficiency %, overall
# utilization %. The first 48 are hand-picked shapes, then 60 seeded random ones, then a 1x1
# array (SCALE-Sim reports 104% utilization there: its count is one short).
SCALESIM_3_0_0_MEASURED = [
    (4, 8, 4, 4, 4, "os", 13, 100.0, 61.53846153846154),
    (4, 8, 4, 4, 4, "ws", 27, 100.0, 29.62962962962963),
    (4, 8, 4, 4, 4, "is", 27, 100.0, 29.62962962962963),
    (8, 8, 8, 4, 4, "os", 55, 100.0, 58.18181818181818),
    (8, 8, 8, 4, 4, "ws", 71, 100.0, 45.070422535211264),
    (8, 8, 8, 4, 4, "is", 71, 100.0, 45.070422535211264),
    (5, 8, 7, 4, 4, "os", 55, 54.6875, 31.818181818181817),
    (5, 8, 7, 4, 4, "ws", 59, 87.5, 29.661016949152543),
    (5, 8, 7, 4, 4, "is", 67, 62.5, 26.119402985074625),
    (16, 16, 16, 8, 8, "os", 119, 100.0, 53.78151260504202),
    (16, 16, 16, 8, 8, "ws", 151, 100.0, 42.384105960264904),
    (16, 16, 16, 8, 8, "is", 151, 100.0, 42.384105960264904),
    (10, 3, 13, 4, 4, "os", 107, 67.70833333333334, 22.7803738317757),
    (10, 3, 13, 4, 4, "ws", 79, 60.9375, 30.854430379746834),
    (10, 3, 13, 4, 4, "is", 68, 62.5, 35.845588235294116),
    (64, 32, 48, 16, 16, "os", 743, 100.0, 51.68236877523553),
    (64, 32, 48, 16, 16, "ws", 659, 100.0, 58.2701062215478),
    (64, 32, 48, 16, 16, "is", 751, 100.0, 51.13182423435419),
    (8, 32, 8, 8, 8, "os", 45, 100.0, 71.11111111111111),
    (8, 32, 8, 8, 8, "ws", 119, 100.0, 26.89075630252101),
    (8, 32, 8, 8, 8, "is", 119, 100.0, 26.89075630252101),
    (33, 20, 17, 8, 16, "os", 419, 43.828125, 20.920346062052506),
    (33, 20, 17, 8, 16, "ws", 377, 44.27083333333333, 23.250994694960212),
    (33, 20, 17, 8, 16, "is", 422, 57.291666666666664, 20.771623222748815),
    (12, 40, 9, 16, 8, "os", 123, 42.1875, 27.4390243902439),
    (12, 40, 9, 16, 8, "ws", 299, 46.875, 11.2876254180602),
    (12, 40, 9, 16, 8, "is", 281, 62.5, 12.01067615658363),
    (1, 1, 1, 4, 4, "os", 6, 6.25, 1.0416666666666667),
    (1, 1, 1, 4, 4, "ws", 10, 6.25, 0.625),
    (1, 1, 1, 4, 4, "is", 10, 6.25, 0.625),
    (64, 64, 64, 32, 32, "os", 503, 100.0, 50.89463220675945),
    (64, 64, 64, 32, 32, "ws", 631, 100.0, 40.57052297939778),
    (64, 64, 64, 32, 32, "is", 631, 100.0, 40.57052297939778),
    (20, 64, 24, 8, 4, "os", 1331, 83.33333333333334, 72.12622088655147),
    (20, 64, 24, 8, 4, "ws", 1823, 100.0, 52.66044980800878),
    (20, 64, 24, 8, 4, "is", 1679, 100.0, 57.17689100655152),
    (2, 8, 3, 8, 8, "os", 21, 9.375, 3.5714285714285716),
    (2, 8, 3, 8, 8, "ws", 23, 37.5, 3.260869565217391),
    (2, 8, 3, 8, 8, "is", 24, 25.0, 3.125),
    (7, 5, 9, 1, 4, "os", 167, 75.0, 47.15568862275449),
    (7, 5, 9, 1, 4, "ws", 164, 75.0, 48.01829268292683),
    (7, 5, 9, 1, 4, "is", 129, 87.5, 61.04651162790697),
    (9, 6, 5, 4, 1, "os", 134, 75.0, 50.37313432835821),
    (9, 6, 5, 4, 1, "ws", 159, 75.0, 42.45283018867924),
    (9, 6, 5, 4, 1, "is", 215, 75.0, 31.3953488372093),
    (3, 50, 2, 16, 16, "os", 79, 2.34375, 1.4833860759493671),
    (3, 50, 2, 16, 16, "ws", 195, 9.765625, 0.6009615384615384),
    (3, 50, 2, 16, 16, "is", 191, 14.6484375, 0.6135471204188482),
    (16, 41, 14, 4, 8, "os", 407, 87.5, 70.51597051597052),
    (54, 63, 57, 4, 1, "ws", 55631, 98.4375, 87.14295986050942),
    (11, 15, 37, 2, 6, "is", 719, 85.93750000000003, 70.75799721835884),
    (2, 63, 41, 4, 6, "os", 496, 48.80952380952381, 43.39717741935484),
    (33, 45, 46, 12, 16, "ws", 851, 89.84375, 41.807432432432435),
    (10, 44, 12, 32, 8, "is", 327, 42.96875, 6.307339449541284),
    (38, 37, 59, 3, 16, "os", 2807, 89.82371794871794, 61.56780667379171),
    (40, 4, 48, 8, 6, "ws", 479, 50.0, 33.40292275574113),
    (55, 12, 52, 32, 6, "is", 1199, 34.375, 14.908256880733944),
    (15, 55, 63, 12, 8, "os", 1167, 61.5234375, 46.39299485861183),
    (34, 54, 62, 32, 8, "ws", 1663, 81.73828125, 26.738199037883344),
    (4, 29, 17, 1, 16, "is", 956, 25.0, 12.892259414225942),
    (14, 55, 61, 3, 6, "os", 3409, 86.26262626262623, 76.54574492356834),
    (30, 16, 59, 16, 16, "ws", 303, 92.1875, 36.50990099009901),
    (33, 52, 40, 32, 32, "is", 535, 41.89453125, 12.529205607476635),
    (62, 52, 56, 4, 4, "os", 12991, 96.875, 86.86013393888076),
    (35, 2, 5, 3, 16, "ws", 54, 20.833333333333336, 13.503086419753087),
    (59, 63, 47, 4, 4, "is", 13679, 96.796875, 79.82080195920754),
    (63, 60, 64, 12, 8, "os", 3743, 87.5, 67.3256745925728),
    (5, 38, 41, 16, 32, "ws", 401, 50.716145833333336, 3.7942253740648377),
    (13, 57, 34, 16, 2, "is", 1847, 82.70089285714286, 42.626556578234975),
    (55, 62, 9, 5, 6, "os", 1561, 75.0, 65.5349135169763),
    (48, 13, 25, 12, 2, "ws", 1871, 52.083333333333336, 34.7407803313736),
    (58, 2, 12, 1, 6, "is", 359, 96.66666666666669, 64.62395543175488),
    (11, 26, 32, 2, 8, "os", 815, 91.66666666666666, 70.1840490797546),
    (6, 35, 46, 3, 1, "ws", 6071, 97.22222222222226, 53.03903804974469),
    (41, 63, 18, 32, 2, "is", 3443, 96.09375, 21.099876561138544),
    (61, 17, 38, 2, 6, "os", 4990, 89.01689708141333, 65.80828323313293),
    (21, 18, 40, 32, 6, "ws", 622, 53.57142857142857, 12.660771704180064),
    (50, 20, 26, 12, 1, "is", 4899, 83.33333333333334, 44.22671293461251),
    (14, 50, 10, 1, 32, "os", 1133, 31.25, 19.307149161518094),
    (45, 46, 4, 1, 8, "ws", 2437, 50.0, 42.470250307755435),
    (61, 42, 39, 16, 4, "is", 3503, 83.3984375, 44.56804881530117),
    (16, 64, 60, 3, 2, "os", 12059, 88.88888888888889, 84.91583050004147),
    (27, 56, 44, 16, 8, "ws", 1559, 80.20833333333334, 33.338678640153944),
    (30, 9, 52, 1, 2, "is", 7289, 100.0, 96.30950747702016),
    (23, 6, 7, 16, 32, "os", 103, 15.72265625, 1.8317657766990292),
    (25, 62, 3, 3, 16, "ws", 944, 18.452380952380953, 10.26218220338983),
    (28, 18, 21, 3, 6, "is", 929, 93.33333333333336, 63.293864370290635),
    (35, 55, 54, 2, 6, "os", 9881, 97.22222222222221, 87.6682522011942),
    (40, 24, 45, 3, 4, "ws", 4607, 93.75, 78.14195789016713),
    (60, 64, 54, 5, 6, "is", 8839, 98.46153846153845, 78.19889127729381),
    (23, 42, 62, 16, 1, "os", 7067, 71.875, 52.96802037639734),
    (36, 13, 28, 4, 1, "ws", 4815, 81.25, 68.03738317757009),
    (12, 59, 43, 12, 8, "is", 729, 73.75, 43.50137174211248),
    (24, 4, 46, 3, 4, "os", 863, 95.83333333333334, 42.64194669756663),
    (28, 15, 36, 32, 32, "ws", 243, 26.3671875, 6.076388888888889),
    (28, 38, 35, 32, 2, "is", 2771, 59.375, 20.998736918080116),
    (13, 34, 13, 12, 2, "os", 643, 50.297619047619044, 37.23431829963712),
    (14, 8, 46, 3, 16, "ws", 305, 85.18518518518518, 35.19125683060109),
    (14, 41, 36, 2, 4, "is", 3527, 85.41666666666666, 73.2350439466969),
    (41, 21, 34, 5, 1, "os", 7649, 91.11111111111104, 76.54333899856191),
    (2, 53, 33, 12, 1, "ws", 4124, 88.33333333333333, 7.068380213385063),
    (8, 13, 31, 1, 4, "is", 909, 100.0, 88.66886688668868),
    (16, 13, 45, 8, 32, "os", 203, 70.3125, 18.011083743842363),
    (59, 5, 52, 8, 8, "ws", 566, 58.03571428571429, 42.3476148409894),
    (28, 60, 55, 2, 16, "is", 4379, 87.5, 65.93971226307376),
    (48, 33, 50, 5, 32, "os", 1359, 75.0, 36.42384105960265),
    (46, 8, 56, 1, 4, "ws", 5599, 100.0, 92.016431505626),
    (43, 38, 16, 5, 32, "is", 895, 63.828125, 18.256983240223462),
    (3, 4, 2, 1, 1, "os", 23, 100.0, 104.34782608695652),
]


def test_scalesim_mode_matches_measured_scalesim_3_0_0():
    assert len(SCALESIM_3_0_0_MEASURED) == 109
    for M, K, N, R, C, df, cycles, map_eff_pct, util_pct in SCALESIM_3_0_0_MEASURED:
        t = compute_timing(M, K, N, R, C, df, "scalesim")
        assert t.cycles == cycles, (M, K, N, R, C, df)
        assert t.mapping_efficiency * 100 == pytest.approx(map_eff_pct, rel=1e-12)
        assert t.utilization * 100 == pytest.approx(util_pct, rel=1e-12)
