"""Executed documentation: every shell block of README.md and docs/*.md runs as shown (or is
marked not runnable with the reason); see tests/docblocks.py for the rules and marks."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from docblocks import (ROOT, Block, extract, output_mismatch, problems, run_block, run_file, skip_reason,
                       workdir)

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SLOW = os.environ.get("IMSIM_DOCTEST_SLOW") == "1"


def _shell_blocks(path):
    return [b for b in extract(path) if b.is_shell]


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_doc_commands_run_as_shown(path, tmp_path):
    failures, skipped = run_file(path, workdir(tmp_path), slow=SLOW)
    print("\n".join(skipped))
    assert not failures, "\n".join(failures)


def test_every_shell_block_is_run_or_marked_with_a_reason():
    blocks = [b for p in DOCS for b in extract(p)]
    assert not [msg for msg in problems(blocks)]
    shell = [b for b in blocks if b.is_shell]
    assert len(shell) >= 10
    for b in shell:
        for key in ("not-runnable", "ci"):
            if key in b.marks:
                assert len(b.marks[key]) > 10, f"{b.where}: say why ({key})"


def test_readme_setup_commands_are_run_by_ci():
    first = _shell_blocks(ROOT / "README.md")[0]
    assert first.text.splitlines()[0].startswith("python3 -m venv .venv")
    assert "ci" in first.marks
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert "tests/docblocks.py README.md --ci" in ci_script and "IMSIM_DOCTEST_SLOW=1" in ci_script


def test_ci_blocks_run_only_in_ci_mode(tmp_path):
    md = tmp_path / "setup.md"
    md.write_text("<!-- doctest: ci: creates a venv in the checkout -->\n```bash\necho made > made.txt\n```\n")
    assert run_file(md, tmp_path, ci=False) == ([], ["setup.md:2: runs in .ci/run: creates a venv in the checkout"])
    assert not (tmp_path / "made.txt").exists()
    assert run_file(md, tmp_path, ci=True) == ([], [])
    assert (tmp_path / "made.txt").read_text() == "made\n"
    done = subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _broken_readme(tmp_path: Path) -> Path:
    """A copy of the README whose tour has one command broken (a misspelt strategy)."""
    text = (ROOT / "README.md").read_text()
    good = "--gemm 128,768,768 --bits 4 --strategy auto"
    assert good in text
    broken = tmp_path / "README.md"
    broken.write_text(text.replace(good, "--gemm 128,768,768 --bits 4 --strategy diagonal"))
    return broken


def test_the_harness_catches_a_broken_readme_command(tmp_path):
    broken = _broken_readme(tmp_path)
    block = next(b for b in _shell_blocks(broken) if "--strategy diagonal" in b.text)
    assert skip_reason(block, slow=False, ci=False) is None  # the tour is run by default
    work = tmp_path / "work"
    work.mkdir()
    failure = run_block(block, workdir(work))
    assert failure is not None
    assert failure.startswith(f"README.md:{block.line}: exited 2")
    assert "--strategy = 'diagonal'" in failure


def test_shown_output_is_checked():
    assert output_mismatch(["smoke: 72 points (...)"], "x\nsmoke: 72 points (72 combinations)\n") is None
    assert output_mismatch(["a", "b"], "b\na\n") is not None  # order matters
    block = Block(path=Path("doc.md"), line=3, lang="console", text="$ echo hello world\nhello  world\n")
    assert run_block(block, Path.cwd()) is None
    wrong = Block(path=Path("doc.md"), line=3, lang="console", text="$ echo hello\ngoodbye\n")
    assert "doc.md:3" in run_block(wrong, Path.cwd()) and "goodbye" in run_block(wrong, Path.cwd())


def test_marks_are_checked(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("<!-- doctest: not-runnable -->\n```bash\nfalse\n```\n\n<!-- doctest: sloow -->\n```bash\ntrue\n```\n"
                  "\n```\nimsim run --gemm 1,1,1\n```\n")
    msgs = problems(extract(md))
    assert len(msgs) == 3 and "needs a value" in msgs[0] and "sloow" in msgs[1] and "untagged" in msgs[2]


def test_run_blocks_may_not_write_under_a_fixed_tmp_path(tmp_path):
    """A fixed /tmp path survives between runs on one machine (CI failed on `--out /tmp/x` once)."""
    md = tmp_path / "x.md"
    md.write_text("```bash\nimsim capture minilm --out /tmp/m\n```\n\n"
                  "<!-- doctest: not-runnable: an example -->\n```bash\nls /tmp/m\n```\n\n"
                  "```bash\nimsim capture minilm --out m  # relative: fine\n```\n")
    msgs = problems(extract(md))
    assert len(msgs) == 1 and msgs[0].startswith("x.md:1:") and "/tmp" in msgs[0]
