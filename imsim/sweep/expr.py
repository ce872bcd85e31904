"""Safe evaluation of small filter expressions over a sweep point's fields.

An expression such as ``"rows * cols <= 1024 and a_bits >= w_bits"`` is parsed with
:mod:`ast` and only a whitelist of node types is accepted: literals, field names,
arithmetic (``+ - * / // % **``), comparisons (including chained and ``in``),
``and``/``or``/``not``, conditional expressions, tuples/lists of literals, and calls of
``min``, ``max``, ``abs``. Nothing is ever handed to :func:`eval`, so a spec cannot run
arbitrary code.
"""
from __future__ import annotations

import ast
import difflib
import operator
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from imsim.errors import UserError

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_FUNCS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs}
_MAX_POW = 64  # keep `2 ** huge` from eating the machine


@dataclass(frozen=True)
class Expr:
    """A parsed, validated expression. `names` are the point fields it reads."""

    text: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """Value of the expression with field values from `env` (a mapping or lazy lookup)."""
        return _eval(self.tree.body, env, self.text)


def closest(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """' (did you mean X?)' for the closest known name, or '' when nothing is close."""
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def parse_expr(text: str, known: set[str], where: str) -> Expr:
    """Parse `text`, check every node is allowed and every name is in `known`.

    `where` names the place in the spec for the one-line error (e.g. 'smoke.yaml: filters[1]').
    """
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where} = {text!r}: must be a non-empty expression string")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise UserError(f"{where} = {text!r}: not a valid expression ({exc.msg})") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id in _FUNCS:
                continue
            if node.id not in known:
                raise UserError(f"{where} = {text!r}: unknown field {node.id!r}{closest(node.id, known)}")
            names.add(node.id)
        elif isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS) or node.keywords:
                raise UserError(f"{where} = {text!r}: only min(), max() and abs() may be called")
        elif not isinstance(node, _ALLOWED):
            raise UserError(f"{where} = {text!r}: {type(node).__name__} is not allowed in a filter expression")
    return Expr(text=text.strip(), tree=tree, names=frozenset(names))


_ALLOWED = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.BoolOp,
    ast.Compare, ast.IfExp, ast.Tuple, ast.List, ast.Call,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
    *_BINOPS, *_CMPOPS,
)


def _eval(node: ast.AST, env: Mapping[str, Any], text: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for value in node.values:
                result = _eval(value, env, text)
                if not result:
                    return result
            return result
        result = False
        for value in node.values:
            result = _eval(value, env, text)
            if result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, env, text)
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, env, text), _eval(node.right, env, text)
        if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > _MAX_POW:
            raise UserError(f"filter {text!r}: exponent {right} too large (at most {_MAX_POW})")
        try:
            return _BINOPS[type(node.op)](left, right)
        except (TypeError, ZeroDivisionError) as exc:
            raise UserError(f"filter {text!r}: {exc}") from None
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env, text)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, env, text)
            try:
                ok = _CMPOPS[type(op)](left, right)
            except TypeError as exc:
                raise UserError(f"filter {text!r}: {exc}") from None
            if not ok:
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, env, text) else node.orelse, env, text)
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_eval(e, env, text) for e in node.elts)
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return _FUNCS[node.func.id](*(_eval(a, env, text) for a in node.args))
    raise UserError(f"filter {text!r}: {type(node).__name__} is not allowed")  # unreachable after parse_expr
