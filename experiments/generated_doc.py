"""The command line shared by the scripts that generate a doc page from the code
(gen_yaml_reference.py, gen_cli_reference.py): write the page, or `--check` that it is current."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

DOCS = Path(__file__).resolve().parent.parent / "docs"


def generated_doc_main(generate: Callable[[], str], page: str, script: str, description: str,
                       argv: list[str] | None = None) -> int:
    """Write docs/<page> from `generate()` (or --out FILE); --check exits 1 if the file differs."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", default=str(DOCS / page))
    ap.add_argument("--check", action="store_true", help="exit 1 if the file differs from the generated text")
    args = ap.parse_args(argv)
    text = generate()
    path = Path(args.out)
    if args.check:
        same = path.is_file() and path.read_text() == text
        print(f"{path}: {'up to date' if same else f'OUT OF DATE: run experiments/{script}'}")
        return 0 if same else 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    return 0
