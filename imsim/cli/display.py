"""How the CLI shows result fields a reader could misread: exactness and the strategy `auto` chose."""
from __future__ import annotations

from typing import Any, Iterable, Mapping


def exact_text(exact: bool | None, executed: bool, status: str | None = None) -> str:
    """'True' / 'False' when checked against the integer reference; 'unchecked' when executed
    without original operands to check against; 'not run' when execution was skipped. `status`
    (a result's `exact_status`, when it has one) decides the last two."""
    if status in ("not run", "unchecked"):
        return status
    if exact is not None:
        return str(bool(exact))
    return "unchecked" if executed else "not run"


def combined_exact_text(texts: Iterable[str]) -> str:
    """One word for several GEMMs: False if any is False, True if all are True, 'not run' if none
    ran, else 'unchecked'."""
    texts = list(texts)
    if "False" in texts:
        return "False"
    if texts and all(t == "True" for t in texts):
        return "True"
    if all(t == "not run" for t in texts):
        return "not run"
    return "unchecked"


def strategy_text(row: Mapping[str, Any]) -> str:
    """The strategy as run: `auto` says what it chose ('auto(col,both)') or 'auto: none needed'
    when no operand was unpacked (as many MACs run as the GEMM has)."""
    strategy = str(row.get("strategy", ""))
    if strategy.startswith("auto") and row.get("macs") is not None and row.get("macs") == row.get("useful_macs"):
        return "auto: none needed"
    return strategy
