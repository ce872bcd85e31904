"""Generated references: docs/cli.md (imsim.cli.reference, from the parsers) and
docs/yaml-reference.md (experiments/gen_yaml_reference.py) fail the suite when stale."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from imsim.cli import build_parser
from imsim.cli.reference import commands, generate, visible_options
from imsim.cli.vocabulary import RENAMED

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = list(commands(build_parser()))


def test_docs_cli_lists_every_option_once_and_is_up_to_date():
    text = (ROOT / "docs" / "cli.md").read_text()
    assert text == generate(), "docs/cli.md is stale: run python experiments/gen_cli_reference.py"
    table = text.split("## Options", 1)[1]
    listed = re.findall(r"^\| `(--[a-z0-9-]+)` \|", table, flags=re.M)
    assert len(listed) == len(set(listed))
    every = {(a.option_strings[-1]) for _, p in COMMANDS for a in visible_options(p)}
    assert every == set(listed)
    for old in RENAMED:
        assert f"`{old}`" in text


def test_yaml_reference_is_up_to_date_and_lists_every_key():
    """docs/yaml-reference.md is the output of experiments/gen_yaml_reference.py (no drift)."""
    from imsim.hwconfig import FIELDS
    from imsim.sweep.spec import FORMAT_AXES, SWEEP_FIELDS

    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "gen_yaml_reference.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    text = (ROOT / "docs" / "yaml-reference.md").read_text()
    assert all(f"| `{key}` |" in text for key in (*FIELDS, *SWEEP_FIELDS, *FORMAT_AXES))


def test_cli_reference_check_mode_catches_a_stale_file(tmp_path):
    stale = tmp_path / "cli.md"
    stale.write_text(generate().replace("--json", "--jsn", 1))
    script = str(ROOT / "experiments" / "gen_cli_reference.py")
    done = subprocess.run([sys.executable, script, "--out", str(stale), "--check"], capture_output=True, text=True)
    assert done.returncode == 1 and "OUT OF DATE" in done.stdout
