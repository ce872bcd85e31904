"""Run SCALE-Sim 3.0.0 on small GEMMs and print compute cycles, for cross-checking imsim.array.

Run it in its own venv: python -m venv sv && sv/bin/pip install scalesim==3.0.0 "numpy<2.4"; scalesim is never an imsim dependency.

Usage: scalesim_compare.py OUT.json  (cases hard-coded below). Large SRAMs + CALC bandwidth => no stalls.
"""
import contextlib, io, json, os, sys, tempfile
from scalesim.scale_sim import scalesim

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
FilterSRAMBankNum: 10
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

def run(M, K, N, R, C, df):
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "s.cfg"); topo = os.path.join(d, "g.csv"); lay = os.path.join(d, "l.csv")
        open(cfg, "w").write(CFG.format(R=R, C=C, df=df))
        open(topo, "w").write(f"Layer, M, N, K,\ng0, {M}, {N}, {K},\n")
        open(lay, "w").write("Layer,\n")
        with contextlib.redirect_stdout(io.StringIO()):
            s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=lay,
                         input_type_gemm=True)
            s.run_scale(top_path=d)
        layer = s.runner.single_layer_sim_object_list[0]
        overall, total, stall, util, meff, cutil = layer.get_compute_report_items()
        return dict(M=M, K=K, N=N, rows=R, cols=C, dataflow=df, total_cycles=int(total),
                    stall_cycles=int(stall), overall_util_pct=float(util), mapping_eff_pct=float(meff),
                    compute_util_pct=float(cutil))

CASES = [
    (4, 8, 4, 4, 4), (8, 8, 8, 4, 4), (5, 8, 7, 4, 4), (16, 16, 16, 8, 8), (10, 3, 13, 4, 4),
    (64, 32, 48, 16, 16), (8, 32, 8, 8, 8), (33, 20, 17, 8, 16), (12, 40, 9, 16, 8), (1, 1, 1, 4, 4),
    (64, 64, 64, 32, 32), (20, 64, 24, 8, 4), (2, 8, 3, 8, 8), (7, 5, 9, 1, 4), (9, 6, 5, 4, 1),
    (3, 50, 2, 16, 16),
]
if __name__ == "__main__":
    out = []
    for (M, K, N, R, C) in CASES:
        for df in ("os", "ws", "is"):
            r = run(M, K, N, R, C, df)
            print(json.dumps(r), flush=True)
            out.append(r)
    json.dump(out, open(sys.argv[1], "w"), indent=1)
