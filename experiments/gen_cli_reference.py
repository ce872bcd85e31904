"""Generate docs/cli.md from the CLI's argument parsers (imsim.cli.reference), so it never drifts.

    python experiments/gen_cli_reference.py [--out docs/cli.md] [--check]

--check exits 1 if the file on disk differs from what would be generated.
"""
from __future__ import annotations

import sys

from generated_doc import generated_doc_main

from imsim.cli.reference import generate


def main(argv: list[str] | None = None) -> int:
    return generated_doc_main(generate, "cli.md", "gen_cli_reference.py", __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
