"""Named traces: every command that takes a trace loads every registered name (the shipped one
from the package, the captured ones from a fixture trace folder), and a missing capture is a
one-line exit 2 naming the capture command."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from imsim.cli import main
from imsim.sweep.spec import parse_spec
from imsim.trace import synthetic_trace
from imsim.trace.registry import ENTRIES, NAMES, TRACE_DIR_ENV, entry, listing, resolve

CAPTURED = [e.name for e in ENTRIES if not e.shipped]
HW = str(Path(__file__).resolve().parents[1] / "imsim" / "hw_configs" / "default.yaml")


@pytest.fixture
def trace_dir(tmp_path, monkeypatch):
    """A trace folder holding a tiny fixture trace under every captured name."""
    folder = tmp_path / "traces"
    for i, name in enumerate(CAPTURED):
        synthetic_trace([(6, 8, 5), (3, 4, 2)], seed=i, model=name, path=folder / name)
    monkeypatch.setenv(TRACE_DIR_ENV, str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def _commands(name: str, tmp: Path) -> list[list[str]]:
    return [
        ["run", "--hw", HW, "--trace", name, "--bits", "4", "--json"],
        ["trace", "stats", name, "--json"],
        ["trace", "list", name, "--json"],
        ["demo", "--trace", name, "--max-gemms", "1", "--workers", "1", "--out", str(tmp / f"demo-{name}"), "--json"],
        ["rtl", "export", "--hw", HW, "--trace", name, "--index", "1", "--bits", "4", "--out", str(tmp / f"rtl-{name}"),
         "--json"],
    ]


@pytest.mark.parametrize("name", NAMES)
def test_every_command_loads_every_named_trace(name, trace_dir, tmp_path, capsys):
    want = resolve(name)
    for argv in _commands(name, tmp_path):
        assert main(argv) == 0, argv
        out = json.loads(capsys.readouterr().out)
        if argv[:2] in (["trace", "stats"], ["trace", "list"]):
            assert Path(out["path"]).resolve() == want.resolve()
        if argv[0] == "run" and name != "bundled":
            assert [g["M"] for g in out["gemms"]] == [6, 3]
    spec = parse_spec({"name": "s", "base": "default", "axes": {"trace": [name, {"path": name, "name": f"{name}-x"}]}},
                      base_dir=tmp_path)
    labels = sorted(p.trace.label for p in spec.points)
    assert labels == sorted([name, f"{name}-x"])
    if name != "bundled":
        assert {Path(p.trace.path).resolve() for p in spec.points} == {want.resolve()}


@pytest.mark.parametrize("name", CAPTURED)
def test_missing_capture_names_the_command(name, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(TRACE_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    for argv in (["trace", "stats", name], ["run", "--hw", HW, "--trace", name]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert f"`{entry(name).capture} --out traces/{name}`" in err and "not been captured" in err
    with pytest.raises(Exception, match="capture"):
        parse_spec({"name": "s", "base": "default", "axes": {"trace": [name]}}, base_dir=tmp_path)


def test_trace_list_shows_the_registry(trace_dir, capsys):
    assert main(["trace", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["traces"]}
    assert set(rows) == set(NAMES)
    assert rows["bundled"]["status"] == "shipped" and rows["bundled"]["gemms"] == 93
    assert rows["bundled"]["phases"] == "fwd+bwd"
    for name in CAPTURED:
        assert rows[name]["status"] == "captured" and rows[name]["gemms"] == 2
        assert rows[name]["macs"] == 6 * 8 * 5 + 3 * 4 * 2
    assert main(["trace", "list"]) == 0
    text = capsys.readouterr().out
    assert all(n in text for n in NAMES) and "shipped" in text


def test_registry_lists_missing_captures(tmp_path, monkeypatch):
    monkeypatch.delenv(TRACE_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    rows = {r["name"]: r for r in listing()}
    for name in CAPTURED:
        assert rows[name]["status"] == "not captured" and rows[name]["gemms"] is None
        assert rows[name]["capture"].endswith(f"--out traces/{name}")


def test_unknown_trace_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["trace", "stats", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nosuch" in err and "bundled" in err
