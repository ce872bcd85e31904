"""Selecting trace records by kind and phase (imsim.trace.selection), and the spec's up-front check."""
from dataclasses import dataclass

import pytest

from imsim.errors import UserError
from imsim.sweep.spec import parse_spec
from imsim.trace.selection import check_selection, select


@dataclass(frozen=True)
class Rec:
    name: str
    kind: str
    phase: str


RECS = [Rec("a", "linear", "fwd"), Rec("b", "attn_qk", "fwd"), Rec("c", "grad_input", "bwd"),
        Rec("d", "linear", "fwd")]
PRESENT = [(r.kind, r.phase) for r in RECS]


def test_select_keeps_order_kinds_phases_and_limit():
    assert [r.name for r in select(RECS)] == ["a", "b", "c", "d"]
    assert [r.name for r in select(RECS, kinds=("linear",))] == ["a", "d"]
    assert [r.name for r in select(RECS, phases=("bwd",))] == ["c"]
    assert [r.name for r in select(RECS, kinds=("linear", "grad_input"), limit=2)] == ["a", "c"]


def test_a_selection_that_keeps_something_passes():
    check_selection(PRESENT, ("linear", "grad_input"), ("fwd",), source="s.yaml", where="axes.trace", label="t")
    check_selection(PRESENT, (), ("bwd",), source="s.yaml", where="axes.trace", label="t")


@pytest.mark.parametrize("kinds, phases, names", [
    (("linear", "lineer"), (), ["s.yaml", "axes.trace.kinds = 'lineer'", "attn_qk, grad_input, linear"]),
    ((), ("bwd", "back"), ["s.yaml", "axes.trace.phases = 'back'", "phases present: fwd, bwd"]),
    (("grad_input",), ("fwd",), ["s.yaml", "axes.trace:", "'t'", "bwd: grad_input"]),
])
def test_an_empty_selection_names_the_file_field_value_and_what_there_is(kinds, phases, names):
    with pytest.raises(UserError) as exc:
        check_selection(PRESENT, kinds, phases, source="s.yaml", where="axes.trace", label="t")
    text = str(exc.value)
    assert "\n" not in text
    for name in names:
        assert name in text, (name, text)


def test_an_empty_trace_says_so():
    with pytest.raises(UserError, match="none \\(the trace is empty\\)"):
        check_selection([], ("linear",), (), source="s.yaml", where="axes.trace", label="t")


def test_spec_checks_synthetic_selection_without_generating():
    ok = {"axes": {"trace": [{"name": "s", "synthetic": {"shapes": [[4, 8, 4]], "kind": "conv"},
                              "kinds": ["conv"], "phases": ["fwd"]}]}}
    assert len(parse_spec(ok, source="ok.yaml").points) == 1
    bad = {"axes": {"trace": [{"name": "s", "synthetic": {"shapes": [[4, 8, 4]], "kind": "conv"}, "kinds": ["linear"]}]}}
    with pytest.raises(UserError, match=r"bad\.yaml: axes\.trace\.kinds = 'linear': .*kinds present: conv"):
        parse_spec(bad, source="bad.yaml")


def test_spec_refuses_two_traces_with_one_label():
    spec = {"axes": {"trace": ["bundled", {"path": "bundled", "phases": ["fwd"], "name": "fwd"},
                               {"path": "bundled", "phases": ["bwd"], "name": "fwd"}]}}
    with pytest.raises(UserError, match=r"d\.yaml: axes\.trace\[2\]\.name = 'fwd': duplicate trace label "
                                        r"\(axes\.trace\[1\] has it too\)"):
        parse_spec(spec, source="d.yaml")
