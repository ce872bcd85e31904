"""imsim against SCALE-Sim 3.0.0 on SCALE-Sim's own example layers: compute cycles and speed.

    python experiments/scalesim_compare.py --scalesim-python /tmp/ssvenv/bin/python [--dataflows os,ws,is]

SCALE-Sim is never an imsim dependency: it lives in its own venv
(`python3 -m venv /tmp/ssvenv && /tmp/ssvenv/bin/pip install scalesim==3.0.0 'numpy<2.4'`), and
this script runs itself there (`--worker`) for the SCALE-Sim half. One run measures both sides:

* layers: the example topologies of the SCALE-Sim repository (scalesim-project/scale-sim-v2,
  topologies/GEMM_mnk/test_mnk_input.csv, topologies/conv_nets/test.csv and alexnet.csv
  Conv3-Conv5), fed to SCALE-Sim in their own format (GEMM or convolution) and to imsim through
  imsim.scalesim_import.read_topology (convolutions lowered to GEMMs as SCALE-Sim does);
* hardware: SCALE-Sim's example config configs/scale.cfg (32x32, 64 KiB SRAMs), with 8 MiB SRAMs
  and InterfaceBandwidth CALC so that SCALE-Sim reports no stalls and its total is the compute count;
* cycles: SCALE-Sim's compute-report total cycles vs imsim.array.compute_timing(..., "scalesim");
* speed: wall time of one layer in-process, SCALE-Sim's `run_scale` (cycle-level operand and
  memory traces) vs imsim's whole per-GEMM model (`simulate_gemm` with timing "scalesim": array
  timing, simpy memory pipeline, recombination, energy and area; exact execution off, memoised
  results cleared before every call), best of --repeat; ratio = SCALE-Sim / imsim.

The older mode, `scalesim_compare.py OUT.json` under SCALE-Sim's python, runs the small cases of
CASES and writes their cycle counts (the data in tests/test_array.py came from it).
"""
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time

CFG = """[general]
run_name = cmp

[architecture_presets]
ArrayHeight:    {R}
ArrayWidth:     {C}
IfmapSramSzkB:    8192
FilterSramSzkB:   8192
OfmapSramSzkB:    8192
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 1000
Dataflow : {df}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

ARRAY = (32, 32)  # configs/scale.cfg of the SCALE-Sim repository
# SCALE-Sim's example layers (repository scalesim-project/scale-sim-v2), in its own CSV formats
GEMM_HEADER = "Layer Name, M, N, K,"
CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
LAYERS = [  # (source file, CSV header, CSV line)
    ("GEMM_mnk/test_mnk_input.csv", GEMM_HEADER, "Test 1, 256, 128, 256,"),
    ("conv_nets/test.csv", CONV_HEADER, "Inc5b_3x3, 7, 7, 3, 3, 192, 384, 1,"),
    ("conv_nets/alexnet.csv", CONV_HEADER, "Conv3, 13, 13, 3, 3, 256, 384, 1,"),
    ("conv_nets/alexnet.csv", CONV_HEADER, "Conv4, 13, 13, 3, 3, 384, 384, 1,"),
    ("conv_nets/alexnet.csv", CONV_HEADER, "Conv5, 13, 13, 3, 3, 384, 256, 1,"),
]


def _scalesim_layer(header, line, R, C, df, repeat):
    """(SCALE-Sim report items, best seconds of run_scale) of one topology line."""
    from scalesim.scale_sim import scalesim

    best, cpu, items = float("inf"), float("inf"), None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "s.cfg")
            topo = os.path.join(d, "t.csv")
            lay = os.path.join(d, "l.csv")
            with open(cfg, "w") as fh:
                fh.write(CFG.format(R=R, C=C, df=df))
            with open(topo, "w") as fh:
                fh.write(f"{header}\n{line}\n")
            with open(lay, "w") as fh:
                fh.write("Layer,\n")
            with contextlib.redirect_stdout(io.StringIO()):
                s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=lay,
                             input_type_gemm=header == GEMM_HEADER)
                t0, c0 = time.perf_counter(), time.process_time()
                s.run_scale(top_path=d)
                best = min(best, time.perf_counter() - t0)
                cpu = min(cpu, time.process_time() - c0)
            items = s.runner.single_layer_sim_object_list[0].get_compute_report_items()
    _, total, stall, util, meff, _ = items
    return {"total_cycles": int(total), "stall_cycles": int(stall), "mapping_eff_pct": float(meff),
            "util_pct": float(util), "seconds": best, "cpu_seconds": cpu}


def worker(jobs_json, out_json):
    """SCALE-Sim half (run under SCALE-Sim's python): every job of jobs_json -> out_json."""
    jobs = json.load(open(jobs_json))
    out = [dict(job, **_scalesim_layer(job["header"], job["line"], job["R"], job["C"], job["df"], job["repeat"]))
           for job in jobs]
    json.dump(out, open(out_json, "w"))


def _imsim_seconds(M, K, N, R, C, df, repeat):
    """Best (wall, CPU) time of imsim's per-GEMM model on one layer, memoised results cleared."""
    import numpy as np

    from imsim import memo
    from imsim.hwconfig import HwConfig
    from imsim.simulate import simulate_gemm
    from imsim.unpack import unpack_gemm

    hw = HwConfig(rows=R, cols=C, dataflow=df, sram_a_kib=64, sram_b_kib=64, sram_c_kib=64)
    ug = unpack_gemm(np.zeros((M, K), np.int64), np.zeros((K, N), np.int64), 8, 8, "none")
    best, cpu = float("inf"), float("inf")
    for _ in range(max(3, repeat)):
        memo.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        simulate_gemm(hw, ug, timing="scalesim", execute=False)
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return best, cpu


def compare(scalesim_python, dataflows, repeat):
    from imsim.array import compute_timing
    from imsim.scalesim_import import read_topology

    R, C = ARRAY
    jobs = []
    for source, header, line in LAYERS:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.csv")
            with open(path, "w") as fh:
                fh.write(f"{header}\n{line}\n")
            (layer,) = read_topology(path)
        for df in dataflows:
            jobs.append({"source": source, "layer": layer.name, "header": header, "line": line, "M": layer.M,
                         "K": layer.K, "N": layer.N, "R": R, "C": C, "df": df, "repeat": repeat})
    with tempfile.TemporaryDirectory() as d:
        jobs_json, out_json = os.path.join(d, "jobs.json"), os.path.join(d, "out.json")
        json.dump(jobs, open(jobs_json, "w"))
        subprocess.run([scalesim_python, os.path.abspath(__file__), "--worker", jobs_json, out_json], check=True)
        measured = json.load(open(out_json))
    _imsim_seconds(8, 8, 8, R, C, "os", 1)  # imports (simpy, ...) before any timing
    print(f"SCALE-Sim 3.0.0 ({scalesim_python}) vs imsim on SCALE-Sim's example layers, "
          f"{R}x{C} array; SCALE-Sim best of {repeat}, imsim best of {max(3, repeat)}, wall (CPU) seconds; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("| layer (SCALE-Sim repo file) | M | K | N | df | SCALE-Sim cycles | imsim `scalesim` cycles | same "
          "| SCALE-Sim s | imsim s | SCALE-Sim / imsim (CPU) |")
    print("|---|--:|--:|--:|--|--:|--:|--|--:|--:|--:|")
    all_same, ratios = True, []
    for m in measured:
        ours = compute_timing(m["M"], m["K"], m["N"], m["R"], m["C"], m["df"], "scalesim").cycles
        same = ours == m["total_cycles"] and m["stall_cycles"] == 0
        all_same = all_same and same
        t_imsim, c_imsim = _imsim_seconds(m["M"], m["K"], m["N"], m["R"], m["C"], m["df"], repeat)
        ratios.append(m["cpu_seconds"] / c_imsim)
        print(f"| {m['layer']} ({m['source']}) | {m['M']} | {m['K']} | {m['N']} | {m['df']} | {m['total_cycles']} "
              f"| {ours} | {'yes' if same else 'NO'} | {m['seconds']:.2f} ({m['cpu_seconds']:.2f}) "
              f"| {t_imsim:.4f} ({c_imsim:.4f}) | {m['seconds'] / t_imsim:.0f}x ({ratios[-1]:.0f}x) |")
    print(f"compute cycles identical on all {len(measured)} runs: {'yes' if all_same else 'NO'}; "
          f"SCALE-Sim / imsim CPU time: {min(ratios):.0f}x .. {max(ratios):.0f}x")
    return 0 if all_same else 1


def run(M, K, N, R, C, df):
    """One small GEMM through SCALE-Sim (older mode; under SCALE-Sim's python)."""
    r = _scalesim_layer(GEMM_HEADER, f"g0, {M}, {N}, {K},", R, C, df, 1)
    return dict(M=M, K=K, N=N, rows=R, cols=C, dataflow=df, total_cycles=r["total_cycles"],
                stall_cycles=r["stall_cycles"], overall_util_pct=r["util_pct"], mapping_eff_pct=r["mapping_eff_pct"])


CASES = [
    (4, 8, 4, 4, 4), (8, 8, 8, 4, 4), (5, 8, 7, 4, 4), (16, 16, 16, 8, 8), (10, 3, 13, 4, 4),
    (64, 32, 48, 16, 16), (8, 32, 8, 8, 8), (33, 20, 17, 8, 16), (12, 40, 9, 16, 8), (1, 1, 1, 4, 4),
    (64, 64, 64, 32, 32), (20, 64, 24, 8, 4), (2, 8, 3, 8, 8), (7, 5, 9, 1, 4), (9, 6, 5, 4, 1),
    (3, 50, 2, 16, 16),
]


def main(argv):
    if argv[:1] == ["--worker"]:
        worker(argv[1], argv[2])
        return 0
    if argv[:1] == ["--scalesim-python"]:
        import argparse

        ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        ap.add_argument("--scalesim-python", required=True)
        ap.add_argument("--dataflows", default="os,ws,is")
        ap.add_argument("--repeat", type=int, default=1)
        args = ap.parse_args(argv)
        return compare(args.scalesim_python, args.dataflows.split(","), args.repeat)
    out = []
    for (M, K, N, R, C) in CASES:
        for df in ("os", "ws", "is"):
            r = run(M, K, N, R, C, df)
            print(json.dumps(r), flush=True)
            out.append(r)
    json.dump(out, open(argv[0], "w"), indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
