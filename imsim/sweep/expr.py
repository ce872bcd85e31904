"""Safe evaluation of small filter expressions over a sweep point's fields.

An expression such as ``"rows * cols <= 1024 and a_bits >= w_bits"`` is parsed with
:mod:`ast` and only a whitelist of node types is accepted: literals, field names,
arithmetic (``+ - * / // % **``), comparisons (including chained and ``in``),
``and``/``or``/``not``, conditional expressions, tuples/lists of literals, and calls of
``min``, ``max``, ``abs``. Nothing is ever handed to :func:`eval`, so a spec cannot run
arbitrary code, and the work is bounded: at most MAX_CHARS characters and MAX_DEPTH levels of
nesting, every intermediate integer within MAX_INT_BITS bits and every string or tuple within
MAX_LEN items (checked before a repetition or a power is computed). Every evaluation error
(a type mismatch, a division by zero, ``max()``) is a UserError naming the filter.
"""
from __future__ import annotations

import ast
import difflib
import operator
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from imsim.errors import UserError, shown

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
_MAX_POW = 64  # largest exponent
MAX_CHARS = 2000  # characters of one expression
MAX_DEPTH = 40  # nesting levels of its syntax tree
MAX_INT_BITS = 256  # magnitude of any integer computed
MAX_LEN = 1000  # items of any string or tuple computed


@dataclass(frozen=True)
class Expr:
    """A parsed, validated expression. `names` are the point fields it reads."""

    text: str
    tree: ast.Expression
    names: frozenset[str]
    where: str = "filter"  # names the file and field in messages, e.g. 'spec.yaml: filters[0]'

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """Value of the expression with field values from `env` (a mapping or lazy lookup);
        UserError '<where> = <text>: <why>' for anything that goes wrong."""
        try:
            return _eval(self.tree.body, env, self.text)
        except _Refused as exc:
            raise UserError(f"{self.where} = {shown(self.text)}: {exc}") from None
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 (TypeError, KeyError, OverflowError, ...: all input)
            why = str(exc) if not isinstance(exc, KeyError) else f"no field {exc}"
            raise UserError(f"{self.where} = {shown(self.text)}: cannot be evaluated "
                            f"({type(exc).__name__}: {shown(why, 120)})") from None


class _Refused(Exception):
    """An evaluation bound was hit (message says which)."""


def _bounded(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise _Refused(f"an intermediate integer exceeds {MAX_INT_BITS} bits")
    if isinstance(value, (str, tuple)) and len(value) > MAX_LEN:
        raise _Refused(f"an intermediate string or tuple exceeds {MAX_LEN} items")
    return value


def _depth(tree: ast.AST) -> int:
    """Nesting depth of a syntax tree (iterative: no recursion on hostile input)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH:
            break
        stack.extend((child, d + 1) for child in ast.iter_child_nodes(node))
    return deepest


def closest(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """' (did you mean X?)' for the closest known name, or '' when nothing is close."""
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def parse_expr(text: str, known: set[str], where: str) -> Expr:
    """Parse `text`, check every node is allowed and every name is in `known`.

    `where` names the place in the spec for the one-line error (e.g. 'smoke.yaml: filters[1]').
    """
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where} = {shown(text)}: must be a non-empty expression string")
    if len(text) > MAX_CHARS:
        raise UserError(f"{where} = {shown(text)}: {len(text)} characters; an expression has at most {MAX_CHARS}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise UserError(f"{where} = {shown(text)}: not a valid expression ({exc.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise UserError(f"{where} = {shown(text)}: nested too deeply") from None
    if _depth(tree) > MAX_DEPTH:
        raise UserError(f"{where} = {shown(text)}: nested deeper than {MAX_DEPTH} levels; split it into "
                        f"several filters (all must hold)")
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id in _FUNCS:
                continue
            if node.id not in known:
                raise UserError(f"{where} = {shown(text)}: unknown field {node.id!r}{closest(node.id, known)}")
            names.add(node.id)
        elif isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS) or node.keywords:
                raise UserError(f"{where} = {shown(text)}: only min(), max() and abs() may be called")
        elif not isinstance(node, _ALLOWED):
            raise UserError(f"{where} = {shown(text)}: {type(node).__name__} is not allowed in a filter expression")
    return Expr(text=text.strip(), tree=tree, names=frozenset(names), where=where)


_ALLOWED = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.BoolOp,
    ast.Compare, ast.IfExp, ast.Tuple, ast.List, ast.Call,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
    *_BINOPS, *_CMPOPS,
)


def _eval(node: ast.AST, env: Mapping[str, Any], text: str) -> Any:
    if isinstance(node, ast.Constant):
        return _bounded(node.value)
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
        _check_cost(node.op, left, right)
        return _bounded(_BINOPS[type(node.op)](left, right))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env, text)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, env, text)
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, env, text) else node.orelse, env, text)
    if isinstance(node, (ast.Tuple, ast.List)):
        return _bounded(tuple(_eval(e, env, text) for e in node.elts))
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return _bounded(_FUNCS[node.func.id](*(_eval(a, env, text) for a in node.args)))
    raise _Refused(f"{type(node).__name__} is not allowed")  # unreachable after parse_expr


def _size(value: Any) -> int:
    """Bits of an integer, items of a string or tuple, 0 otherwise."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return value.bit_length()
    return len(value) if isinstance(value, (str, tuple)) else 0


def _check_cost(op: ast.operator, left: Any, right: Any) -> None:
    """Refuse a repetition or power whose result would exceed the bounds, before computing it."""
    if isinstance(op, ast.Pow) and isinstance(right, (int, float)) and not isinstance(right, bool):
        if abs(right) > _MAX_POW:
            raise _Refused(f"exponent {shown(right)} too large (at most {_MAX_POW})")
        if isinstance(left, int) and right > 0 and _size(left) * right > MAX_INT_BITS:
            raise _Refused(f"the power exceeds {MAX_INT_BITS} bits")
    if isinstance(op, ast.Mult):
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, tuple)) and isinstance(n, int) and n * len(seq) > MAX_LEN:
                raise _Refused(f"a repeated string or tuple exceeds {MAX_LEN} items")
