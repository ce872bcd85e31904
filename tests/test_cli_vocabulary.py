"""One vocabulary across the CLI: walks every sub-command's parser (issue 16).

Shared words (imsim.cli.vocabulary.WORDS) must come from the shared helpers (so they parse and
mean the same everywhere); old spellings only as hidden deprecated aliases; --bits always with
--a-bits/--w-bits; --strategy defaults to auto; every command takes --json; docs/cli.md and
docs/yaml-reference.md are checked in tests/test_cli_reference.py.
"""
from __future__ import annotations

import argparse

import pytest

from imsim.cli import build_parser
from imsim.cli.reference import commands
from imsim.cli.vocabulary import RENAMED, WORDS

COMMANDS = list(commands(build_parser()))
# spellings of shared words that must not come back (besides RENAMED)
MISSPELLINGS = {"--outdir", "--output", "--output-dir", "--hw-config", "--config", "--hardware", "--seeds",
                "--heavy-hitters", "--strategies", "--json-out", "--abits", "--wbits", "--bit"}


def _ids():
    return [name for name, _ in COMMANDS]


def test_every_command_is_walked():
    names = set(_ids())
    assert {"run", "unpack", "trace stats", "sweep", "rtl export", "import-scalesim", "demo"} <= names


@pytest.mark.parametrize("name, parser", COMMANDS, ids=_ids())
def test_shared_words_come_from_the_shared_helpers(name, parser):
    for action in parser._actions:
        for flag in action.option_strings:
            if flag in WORDS:
                assert getattr(action, "vocabulary", None) == flag, \
                    f"imsim {name} {flag}: add it with imsim.cli.vocabulary's helper, not by hand"


@pytest.mark.parametrize("name, parser", COMMANDS, ids=_ids())
def test_no_old_or_odd_spellings_are_visible(name, parser):
    for action in parser._actions:
        for flag in action.option_strings:
            assert "_" not in flag, f"imsim {name} {flag}: options use dashes"
            if flag in RENAMED:
                assert action.help is argparse.SUPPRESS, f"imsim {name} {flag}: an old spelling must be hidden"
                assert getattr(action, "deprecated_for", None) == RENAMED[flag]
            else:
                assert flag not in MISSPELLINGS, f"imsim {name} {flag}: use the shared word (docs/cli.md)"


@pytest.mark.parametrize("name, parser", COMMANDS, ids=_ids())
def test_bits_come_with_a_and_w_bits_and_strategy_defaults_to_auto(name, parser):
    flags = {f: a for a in parser._actions for f in a.option_strings}
    if {"--bits", "--a-bits", "--w-bits"} & set(flags):
        assert {"--bits", "--a-bits", "--w-bits"} <= set(flags), f"imsim {name}: --bits needs --a-bits/--w-bits"
    if "--strategy" in flags:
        assert flags["--strategy"].default in ("auto", ("auto",))
    quant = {"--levels", "--w-levels", "--quantizer"}
    if quant & set(flags):
        assert quant <= set(flags), f"imsim {name}: the quantization flags come together (add_quant_args)"
    if "--hw" in flags:
        assert flags["--hw"].default == "default" and not flags["--hw"].required


@pytest.mark.parametrize("name, parser", COMMANDS, ids=_ids())
def test_every_command_takes_json(name, parser):
    assert "--json" in {f for a in parser._actions for f in a.option_strings}, f"imsim {name}: no --json"


def test_every_shared_word_is_used():
    used = {a.vocabulary for _, p in COMMANDS for a in p._actions if hasattr(a, "vocabulary")}
    assert used == set(WORDS)


def test_strategy_lists_and_all():
    from imsim.cli.vocabulary import strategy_list
    from imsim.errors import UserError

    assert strategy_list("all") == ("row", "col", "both", "auto")
    assert strategy_list("row, both,row") == ("row", "both")
    with pytest.raises(UserError, match="--strategy = 'diag'"):
        strategy_list("diag")


def test_float32_flag_names_the_trace_formats_float_dtypes():
    """--float32 spells the stored dtypes out (to keep imsim.trace.format out of the parser's
    start-up); they must stay those the trace writer accepts, default first."""
    from imsim.cli.vocabulary import STORED_FLOAT_DTYPES
    from imsim.trace.format import FLOAT_DTYPES

    assert STORED_FLOAT_DTYPES == FLOAT_DTYPES
    parser = build_parser()
    for argv in (["capture", "minilm", "--out", "x"], ["capture", "module", "pkg:f", "--out", "x"]):
        assert parser.parse_args(argv).float_dtype == FLOAT_DTYPES[0]
        assert parser.parse_args(argv + ["--float32"]).float_dtype == FLOAT_DTYPES[1]
