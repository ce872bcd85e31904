"""The RTL walkthroughs in README.md and docs/rtl.md run literally and check what they claim
(values and cycle counts, exit 0 each); the by-hand Icarus commands in docs/rtl.md work too."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from imsim.cli import main
from imsim.rtl.simulator import icarus_missing

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.rtl,
    pytest.mark.skipif(icarus_missing() is not None, reason=f"RTL tests need Icarus Verilog: {icarus_missing()}"),
]


def _block(path: Path, marker: str) -> list[str]:
    """Lines of the fenced block following `<!-- marker... -->` (continuations joined)."""
    text = path.read_text()
    m = re.search(rf"<!-- {marker}[^>]*-->\s*```\w*\n(.*?)```", text, re.S)
    assert m, f"{path}: no {marker} block"
    return [ln for ln in m.group(1).replace("\\\n", " ").splitlines() if ln.strip()]


@pytest.mark.parametrize("doc", ["README.md", "docs/rtl.md"])
def test_walkthrough_runs_literally(doc: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    lines = _block(ROOT / doc, "rtl-walkthrough")
    assert any("--exact-cycles" in ln and "--against c" in ln for ln in lines)
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "imsim"
        assert main(argv[1:]) == 0, (line, capsys.readouterr())
    out = capsys.readouterr().out
    assert "difference +0" in out and "recombination cycles: RTL" in out
    if doc == "docs/rtl.md":
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        script = "set -e\n" + "\n".join(_block(ROOT / doc, "rtl-by-hand"))
        proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert "IMSIM_DONE" in proc.stdout
