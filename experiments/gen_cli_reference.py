"""Generate docs/cli.md from the CLI's argument parsers (imsim.cli.reference), so it never drifts.

    python experiments/gen_cli_reference.py [--out docs/cli.md] [--check]

--check exits 1 if the file on disk differs from what would be generated.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imsim.cli.reference import generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent
    ap.add_argument("--out", default=str(root / "docs" / "cli.md"))
    ap.add_argument("--check", action="store_true", help="exit 1 if the file differs from the generated text")
    args = ap.parse_args(argv)
    text = generate()
    path = Path(args.out)
    if args.check:
        same = path.is_file() and path.read_text() == text
        print(f"{path}: {'up to date' if same else 'OUT OF DATE: run experiments/gen_cli_reference.py'}")
        return 0 if same else 1
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
