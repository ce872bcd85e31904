"""Shape lists: columns by header name (never position), SCALE-Sim topologies and named CSVs give
the same GEMMs, the K/N swap cannot happen, ambiguous headers exit 2, values marked shape-only."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.cli import main
from imsim.errors import UserError
from imsim.trace.format import open_trace
from imsim.trace.shapes import read_shapes

CONV_TOPO = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
             "Conv1, 10, 12, 3, 3, 4, 6, 1,\nConv2, 9, 9, 3, 3, 2, 5, 2,\n")
# the same layers as a named GEMM list, columns shuffled: M = output pixels, K = Fh*Fw*C, N = filters
CONV_AS_CSV = "N,kind,K,name,M\n6,conv,36,Conv1,80\n5,conv,18,Conv2,16\n"
SCALESIM_GEMM = "Layer name,M,N,K,\nL0,20,12,36,\nL1,7,5,3,\n"
SAME_NAMED = "K, name, M, N\n36, L0, 20, 12\n3, L1, 7, 5\n"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def _gemms(path):
    return [(lay.name, lay.M, lay.K, lay.N) for lay in read_shapes(path)]


@pytest.mark.parametrize("topology,named", [(CONV_TOPO, CONV_AS_CSV), (SCALESIM_GEMM, SAME_NAMED)])
def test_scalesim_topology_and_named_csv_give_the_same_gemms(tmp_path, capsys, topology, named):
    topo, csv = _write(tmp_path, "topo.csv", topology), _write(tmp_path, "named.csv", named)
    assert _gemms(topo) == _gemms(csv)
    traces = []
    for src in (topo, csv):
        out = tmp_path / f"{src.stem}.npz"
        assert main(["import-shapes", str(src), "--out", str(out), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["provenance"] == "shape-only"
        traces.append(open_trace(out))
    a, b = traces
    assert [(r.name, r.kind, r.shape) for r in a] == [(r.name, r.kind, r.shape) for r in b]
    assert a.meta["provenance"] == "shape-only" and all(r.meta["provenance"] == "shape-only" for r in a)
    assert a[0].A.shape == (a[0].shape[0], a[0].shape[1])


@pytest.mark.parametrize("command", ["import-shapes", "import-scalesim"])
def test_k_n_swap_cannot_happen(tmp_path, capsys, command):
    """The issue's case: header Layer,M,K,N read by position as SCALE-Sim's M,N,K swapped K and N."""
    topo = _write(tmp_path, "qkv.csv", "Layer,M,K,N\nqkv,512,768,2304\n")
    out = tmp_path / "o"
    if command == "import-shapes":
        argv = ["import-shapes", str(topo), "--out", str(out / "qkv.npz")]
    else:
        cfg = _write(tmp_path, "a.cfg", "[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\nDataflow: os\n")
        argv = ["import-scalesim", str(cfg), str(topo), "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    (rec,) = open_trace(out / "qkv.npz")
    assert rec.shape == (512, 768, 2304)


def test_count_repeats_and_defaults(tmp_path):
    path = _write(tmp_path, "s.csv", "m,k,n,count,name\n4,5,6,3,head\n2,3,4,,\n")
    assert [(lay.name, lay.M, lay.kind) for lay in read_shapes(path)] == [
        ("head[0]", 4, "gemm"), ("head[1]", 4, "gemm"), ("head[2]", 4, "gemm"), ("layer3", 2, "gemm")]


@pytest.mark.parametrize("text,needle", [
    ("512,768,2304\n1,2,3\n", "must name the columns"),
    ("M,K,M\n1,2,3\n", "same field"),
    ("name,layer,M,K,N\na,b,1,2,3\n", "same field"),
    ("Layer name,M,K,N,IFMAP Height\nx,1,2,3,4\n", "mixes"),
    ("M,K,N,batch\n1,2,3,4\n", "unknown column"),
    ("M,N\n1,2\n", "no column K"),
    ("M,K,N\n1,0,3\n", "positive integer"),
    ("M,K,N\n1,2.5,3\n", "positive integer"),
    ("M,K,N\n1,nan,3\n", "positive integer"),
    ("M,K,N\n1,inf,3\n", "positive integer"),
    ("M,K,N\n1,1e400,3\n", "positive integer"),
    ("M,K,N\n1,10%,3\n", "positive integer"),
    ("M,K,N\n1,2,3,4\n", "4 fields"),
    ("M,K,N\n", "at least one row"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels\nc,8,8,3,3,2\n", "Num Filter"),
])
def test_ambiguous_or_bad_lists_exit_2_one_line(tmp_path, capsys, text, needle):
    path = _write(tmp_path, "bad.csv", text)
    assert main(["import-shapes", str(path), "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and "bad.csv" in err
    with pytest.raises(UserError):
        read_shapes(path)


def test_old_flag_spellings_still_work(tmp_path, capsys):
    cfg = _write(tmp_path, "a.cfg", "[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\nDataflow: os\n")
    topo = _write(tmp_path, "t.csv", SCALESIM_GEMM)
    assert main(["import-scalesim", str(cfg), str(topo), "--out-dir", str(tmp_path / "o"),
                 "--heavy-fraction", "0.05", "--json"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["heavy"] == 0.05 and "deprecated" in cap.err
    assert open_trace(tmp_path / "o" / "t.npz").meta["heavy_fraction"] == 0.05
    with pytest.raises(SystemExit):
        main(["import-scalesim", "--help"])
    shown = capsys.readouterr().out
    assert "--out-dir" not in shown and "--heavy-fraction" not in shown and "--heavy F" in shown


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 999), st.integers(1, 999), st.integers(1, 999)), min_size=1, max_size=6),
       st.permutations(["name", "M", "K", "N"]), st.sampled_from(["", ","]))
def test_any_column_order_reads_the_same_gemms(tmp_path_factory, shapes, order, trailing):
    """Whatever the column order (and a SCALE-Sim style trailing comma), each row's M, K, N are its own."""
    path = tmp_path_factory.mktemp("shapes") / "s.csv"
    rows = [{"name": f"l{i}", "M": m, "K": k, "N": n} for i, (m, k, n) in enumerate(shapes)]
    lines = [",".join(order) + trailing] + [",".join(str(r[c]) for c in order) + trailing for r in rows]
    path.write_text("\n".join(lines) + "\n")
    assert _gemms(path) == [(r["name"], r["M"], r["K"], r["N"]) for r in rows]
