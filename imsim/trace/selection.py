"""Selecting a trace's GEMM records by kind and phase (a sweep spec's `kinds`, `phases`, `limit`).

    select(records, kinds, phases, limit)       the records kept, in trace order
    check_selection(present, kinds, phases, ...) UserError (one line) when a listed kind or phase
                                                 occurs in no record, or the two together keep none

An empty `kinds` (or `phases`) keeps every kind (phase). `present` is the (kind, phase) of every
record, which a trace's headers give without reading any operand. No I/O here.
"""
from __future__ import annotations

from typing import Iterable, Sequence, TypeVar

from imsim.errors import UserError, bad_value, shown

R = TypeVar("R")


def keeps(kind: str, phase: str, kinds: Sequence[str], phases: Sequence[str]) -> bool:
    """Whether a record of this kind and phase is selected."""
    return (not kinds or kind in kinds) and (not phases or phase in phases)


def select(records: Iterable[R], kinds: Sequence[str] = (), phases: Sequence[str] = (),
           limit: int | None = None) -> list[R]:
    """The records (anything with .kind and .phase) of the selected kinds and phases, in order,
    the first `limit` of them when given."""
    out = [r for r in records if keeps(r.kind, r.phase, kinds, phases)]  # type: ignore[attr-defined]
    return out if limit is None else out[:limit]


def check_selection(present: Iterable[tuple[str, str]], kinds: Sequence[str], phases: Sequence[str], *,
                    source: str, where: str, label: str) -> None:
    """UserError naming `source`, the field (`where`.kinds / .phases) and the value when a listed
    kind or phase is in no record of the trace `label`, or when kinds and phases together keep
    no record; the message lists what the trace has."""
    pairs = list(dict.fromkeys(present))
    have_kinds = sorted({k for k, _ in pairs})
    have_phases = [p for p in ("fwd", "bwd") if any(ph == p for _, ph in pairs)]
    have_phases += sorted({ph for _, ph in pairs} - set(have_phases))
    for field, wanted, have in (("kinds", kinds, have_kinds), ("phases", phases, have_phases)):
        for value in wanted:
            if value not in have:
                raise bad_value(source, f"{where}.{field}", value,
                                f"no GEMM of trace {label!r} has this {field[:-1]}; {field} present: "
                                f"{', '.join(have) or 'none (the trace is empty)'}")
    if not any(keeps(k, p, kinds, phases) for k, p in pairs):
        found = {p: sorted({k for k, ph in pairs if ph == p and (not kinds or k in kinds)}) for p in have_phases}
        where_found = "; ".join(f"{p}: {', '.join(ks)}" for p, ks in found.items() if ks)
        raise UserError(f"{source}: {where}: kinds {shown(list(kinds))} with phases {shown(list(phases))} select "
                        f"no GEMM of trace {label!r}; those kinds occur only in {where_found}")
