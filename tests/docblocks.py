"""Executed documentation: extract the shell blocks of README.md and docs/*.md and run them.

A fenced block tagged ```bash / ```sh / ```shell runs as one bash script (`set -e -o pipefail`)
and must exit 0. A ```console block holds `$ command` lines, each followed by the output the doc
shows; every shown line must appear in the command's output (stdout and stderr), in order,
whitespace-insensitive, with `...` matching anything. Blocks run in order, per file, in one
temporary folder that links the checkout's top-level entries (hw_configs/, experiments/, ...),
so relative paths work and outputs (out/, imsim-demo/) land in the temporary folder.

Marks: HTML comments on the lines just above a block, `<!-- doctest: KEY[: VALUE] -->`:

    not-runnable: REASON   never run (the reason is required)
    slow                   run only with IMSIM_DOCTEST_SLOW=1 (as .ci/run does)
    ci: REASON             run only by .ci/run, in the checkout itself (`--ci`): e.g. the
                           README's set-up command, which creates a venv and installs imsim
    requires: PROGRAM      skipped (with the reason) when PROGRAM is not on PATH
    excerpt-of: PATH       (any block) every non-blank line appears in PATH, in order

An untagged block whose lines start like commands (imsim, python, pip, make, dask) is an
error: tag it as a shell block, or as ```text for a synopsis.

    python tests/docblocks.py FILE.md ... [--slow] [--ci]   # run, print failures, exit 1 on any
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHELL_LANGS = ("bash", "sh", "shell", "console")
MARKS = ("not-runnable", "slow", "ci", "requires", "excerpt-of")
NEEDS_VALUE = ("not-runnable", "ci", "requires", "excerpt-of")
COMMANDISH = re.compile(r"^\s*(\$ )?(imsim|python3?|pip|make|dask)(\s|$)")
_FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
_MARK = re.compile(r"^\s*<!--\s*doctest:\s*([a-z-]+)\s*(?::\s*(.*?))?\s*-->\s*$")
TIMEOUT_S = 900


@dataclass(frozen=True)
class Block:
    """One fenced block of a markdown file: where it is, its language tag, text and marks."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    marks: dict = field(default_factory=dict, hash=False)

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    @property
    def is_shell(self) -> bool:
        return self.lang in SHELL_LANGS


def extract(path: Path, text: str | None = None) -> list[Block]:
    """Every fenced block of a markdown file, with the doctest marks written above it."""
    lines = (path.read_text() if text is None else text).splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2).lower()
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        body = [ln[len(indent):] if ln.startswith(indent) else ln for ln in lines[i + 1:j]]
        marks: dict[str, str] = {}
        k = i - 1
        while k >= 0 and _MARK.match(lines[k]):
            key, value = _MARK.match(lines[k]).groups()
            marks[key] = value or ""
            k -= 1
        blocks.append(Block(path=path, line=i + 1, lang=lang, text="\n".join(body) + "\n", marks=marks))
        i = j + 1
    return blocks


ABSOLUTE_TMP = re.compile(r"(?<![\w.])/tmp/")


def problems(blocks: list[Block]) -> list[str]:
    """Marking mistakes: unknown marks, marks without their value, untagged command blocks."""
    out = []
    for b in blocks:
        for key, value in b.marks.items():
            if key not in MARKS:
                out.append(f"{b.where}: unknown doctest mark {key!r} (known: {', '.join(MARKS)})")
            elif key in NEEDS_VALUE and not value:
                out.append(f"{b.where}: doctest mark {key!r} needs a value (e.g. the reason)")
        if not b.lang and any(COMMANDISH.match(ln) for ln in b.text.splitlines()):
            out.append(f"{b.where}: untagged block with commands: tag it ```bash (run) or ```text (synopsis)")
        if b.lang in SHELL_LANGS and "not-runnable" not in b.marks and ABSOLUTE_TMP.search(b.text):
            out.append(f"{b.where}: a run block writes under /tmp: use a relative path (blocks run in a "
                       "fresh temporary folder, so a fixed /tmp path collides with an earlier run's files)")
    return out


def console_steps(block: Block) -> list[tuple[str, list[str]]]:
    """(command, shown output lines) for each `$ ` line of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for ln in block.text.splitlines():
        if ln.startswith("$ "):
            steps.append((ln[2:], []))
        elif steps and ln.strip():
            steps[-1][1].append(ln)
    return steps


def _norm(text: str) -> str:
    return " ".join(text.split())


def output_mismatch(shown: list[str], actual: str) -> str | None:
    """None if every shown line appears in `actual` in order (`...` = anything), else the first miss."""
    lines = [_norm(a) for a in actual.splitlines()]
    pos = 0
    for want in shown:
        pattern = re.compile(".*".join(re.escape(p) for p in _norm(want).split("...")) + r"\Z")
        while pos < len(lines) and not pattern.match(lines[pos]):
            pos += 1
        if pos == len(lines):
            return f"shown output line not found: {want.strip()!r}"
        pos += 1
    return None


def workdir(tmp: Path, root: Path = ROOT) -> Path:
    """A temporary folder linking the checkout's top-level entries (so relative paths work)."""
    for entry in root.iterdir():
        if entry.name.startswith(".") or entry.name in ("out", "imsim-demo", "traces", "build", "dist"):
            continue
        link = tmp / entry.name
        if not link.exists():
            link.symlink_to(entry)
    return tmp


def _env() -> dict[str, str]:
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")  # this venv's `imsim` and `python` first
    env["MPLBACKEND"] = "Agg"
    return env


def _run(script: str, cwd: Path, capture: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=_env(), text=True,
                          capture_output=capture, timeout=None if not capture else TIMEOUT_S,
                          stdin=subprocess.DEVNULL)


def skip_reason(block: Block, slow: bool, ci: bool) -> str | None:
    """Why a block is not run in this mode (None: run it)."""
    m = block.marks
    if not block.is_shell:
        return "not a shell block"
    if "not-runnable" in m:
        return f"not runnable: {m['not-runnable']}"
    if ("ci" in m) != ci:
        return f"runs in .ci/run: {m['ci']}" if "ci" in m else "not a ci block"
    if "slow" in m and not slow:
        return "slow (IMSIM_DOCTEST_SLOW=1 runs it)"
    if "requires" in m and shutil.which(m["requires"]) is None:
        return f"needs {m['requires']} on PATH"
    return None


def run_block(block: Block, cwd: Path, capture: bool = True) -> str | None:
    """Run one shell block in `cwd`; None when it passes, else a message naming the block.
    `capture=False` lets a bash block's output through (for .ci/run's long set-up block)."""
    if block.lang == "console":
        for cmd, shown in console_steps(block):
            done = _run(cmd, cwd)
            if done.returncode != 0:
                return f"{block.where}: `{cmd}` exited {done.returncode}: {done.stderr.strip()[-800:]}"
            miss = output_mismatch(shown, done.stdout + done.stderr)
            if miss:
                return f"{block.where}: `{cmd}`: {miss}; got:\n{(done.stdout + done.stderr)[-1500:]}"
        return None
    done = _run(block.text, cwd, capture)
    if done.returncode != 0:
        return f"{block.where}: exited {done.returncode}: {(done.stderr or '').strip()[-1500:]}"
    return None


def check_excerpt(block: Block, root: Path = ROOT) -> str | None:
    """For `excerpt-of: PATH`: None when every non-blank line of the block is in PATH, in order."""
    target = root / block.marks["excerpt-of"]
    if not target.is_file():
        return f"{block.where}: excerpt-of {block.marks['excerpt-of']}: no such file"
    have = [ln.rstrip() for ln in target.read_text().splitlines()]
    pos = 0
    for ln in (x.rstrip() for x in block.text.splitlines() if x.strip()):
        while pos < len(have) and have[pos] != ln:
            pos += 1
        if pos == len(have):
            return f"{block.where}: not an excerpt of {block.marks['excerpt-of']}: {ln!r}"
        pos += 1
    return None


def run_file(path: Path, cwd: Path, slow: bool = False, ci: bool = False) -> tuple[list[str], list[str]]:
    """Run a file's blocks in order in `cwd`: (failures, skipped with reasons)."""
    blocks = extract(path)
    failures = problems(blocks)
    skipped = []
    for b in blocks:
        if "excerpt-of" in b.marks:
            miss = check_excerpt(b)
            if miss:
                failures.append(miss)
        why = skip_reason(b, slow, ci)
        if why is not None:
            if b.is_shell:
                skipped.append(f"{b.where}: {why}")
            continue
        failure = run_block(b, cwd, capture=not ci)
        if failure:
            failures.append(failure)
    return failures, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="run the shell blocks of markdown files")
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--slow", action="store_true", help="also run blocks marked slow")
    ap.add_argument("--ci", action="store_true", help="run only the blocks marked ci, in the checkout itself")
    args = ap.parse_args(argv)
    bad = 0
    for path in args.files:
        if args.ci:
            failures, skipped = run_file(path, ROOT, ci=True)
        else:
            with tempfile.TemporaryDirectory(prefix="imsim-doc-") as tmp:
                failures, skipped = run_file(path, workdir(Path(tmp)), slow=args.slow)
        for line in failures:
            print(f"FAIL {line}")
        print(f"{path}: {len(failures)} failures, {len(skipped)} blocks skipped")
        bad += len(failures)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
