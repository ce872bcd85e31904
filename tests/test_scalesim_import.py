"""SCALE-Sim import: config keys, GEMM (Layer, M, N, K) and conv topologies, CLI outputs."""
from __future__ import annotations

import json

import pytest

from imsim.cli import main
from imsim.errors import UserError
from imsim.hwconfig import load_hw_config
from imsim.scalesim_import import read_config, read_topology
from imsim.trace.format import open_trace

CFG = """[general]
run_name = my_tpu

[architecture_presets]
ArrayHeight:    16
ArrayWidth:     8
IfmapSramSzkB:   128
FilterSramSzkB:  32
OfmapSramSzkB:   16
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10,12
Dataflow : ws
MemoryBanks: 2

[sparsity]
SparsitySupport : false

[run_presets]
InterfaceBandwidth: USER
"""

GEMM_TOPO = "Layer name,M,N,K,\nL0,20,12,36,\nL1,7,5,3,\n\n"
CONV_TOPO = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
             "Conv1, 10, 12, 3, 3, 4, 6, 1,\nConv2, 9, 9, 3, 3, 2, 5, 2,\n")


@pytest.fixture
def files(tmp_path):
    cfg = tmp_path / "tpu.cfg"
    cfg.write_text(CFG)
    topo = tmp_path / "net.csv"
    topo.write_text(GEMM_TOPO)
    return cfg, topo


def test_config_mapping(files):
    cfg = read_config(files[0])
    hw = cfg.hw
    assert (hw["rows"], hw["cols"]) == (16, 8)
    assert (hw["sram_a_kib"], hw["sram_b_kib"], hw["sram_c_kib"]) == (128.0, 32.0, 16.0)
    assert hw["dataflow"] == "ws" and hw["name"] == "my_tpu"
    assert hw["dram_bw_bytes_per_cycle"] == 10.0  # min over banks, one byte per 8-bit word
    assert any("offset" in k for k in cfg.ignored) and "[sparsity]" in cfg.ignored
    assert read_config(files[0], bits=12).hw["dram_bw_bytes_per_cycle"] == 20.0


def test_gemm_topology_column_order(files):
    layers = read_topology(files[1])
    assert [(l.name, l.M, l.K, l.N) for l in layers] == [("L0", 20, 36, 12), ("L1", 7, 3, 5)]


def test_conv_topology_lowered(tmp_path):
    topo = tmp_path / "conv.csv"
    topo.write_text(CONV_TOPO)
    l1, l2 = read_topology(topo)
    assert (l1.M, l1.K, l1.N) == (8 * 10, 3 * 3 * 4, 6)
    assert (l2.M, l2.K, l2.N) == (4 * 4, 3 * 3 * 2, 5)


def test_cli_writes_config_and_trace(files, tmp_path, capsys):
    out = tmp_path / "imported"
    assert main(["import-scalesim", str(files[0]), str(files[1]), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    hw = load_hw_config(summary["hw_config"])
    assert (hw.rows, hw.cols, hw.dataflow, hw.sram_a_kib) == (16, 8, "ws", 128.0)
    trace = open_trace(summary["trace"])
    assert [(r.name, r.shape) for r in trace] == [("L0", (20, 36, 12)), ("L1", (7, 3, 5))]
    assert trace[0].A.shape == (20, 36) and trace[0].B.shape == (36, 12)
    assert summary["macs"] == 20 * 36 * 12 + 7 * 3 * 5


@pytest.mark.parametrize("cfg_text,topo_text,needle", [
    (CFG.replace("Dataflow : ws", "Dataflow : xs"), GEMM_TOPO, "dataflow"),
    (CFG.replace("ArrayHeight:    16", "ArrayHeight:    sixteen"), GEMM_TOPO, "arrayheight"),
    ("not an ini file", GEMM_TOPO, "SCALE-Sim"),
    (CFG, "Layer name,M,N,K,\nL0,20,12,\n", "column K is empty"),
    (CFG, "Layer name,M,N,K,\nL0,20,0,3,\n", "positive integer"),
])
def test_bad_inputs_one_line(tmp_path, capsys, cfg_text, topo_text, needle):
    cfg, topo = tmp_path / "c.cfg", tmp_path / "t.csv"
    cfg.write_text(cfg_text)
    topo.write_text(topo_text)
    assert main(["import-scalesim", str(cfg), str(topo), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle.lower() in err.lower()
    with pytest.raises(UserError):
        read_config(cfg)
        read_topology(topo)
