"""The one YAML reader of imsim: safe, bounded, strict, with one-line errors naming the file.

Every YAML imsim reads (hardware configs, `--set` values, sweep specs, technology tables) goes
through `load_yaml_file` / `load_yaml_text`. On top of PyYAML's SafeLoader (no code, no
Python objects) it refuses:

* aliases (`*name`): an alias bomb of a few hundred bytes expands into gigabytes, and a
  self-referencing value cannot be written back; anchors alone are harmless and allowed;
* nesting deeper than MAX_DEPTH (no RecursionError on `[[[[...`);
* duplicate keys (a silent override hides a typo) and unhashable keys (`? [a, b]`);
* files larger than MAX_YAML_BYTES and files that are not UTF-8 text.

Numbers with an exponent but no dot or exponent sign (`2.0e6`, `1e-3`) are floats, as in YAML 1.2.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent

from imsim.errors import UserError, os_error, shown

MAX_DEPTH = 64  # nested collections
MAX_YAML_BYTES = 4 << 20  # a config or spec is a few KiB; 4 MiB is far beyond any real one


class _StrictComposer(yaml.SafeLoader):
    """SafeLoader refusing aliases, deep nesting, duplicate and unhashable keys."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"YAML aliases (*{event.anchor}) are not allowed; write the value out",
                event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _StrictComposer, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a plain value, not {type(key).__name__} {shown(key, 40)}",
                key_node.start_mark) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {shown(key, 40)}",
                                                    key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictComposer.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.1 (PyYAML) reads `2.0e6` and `1e-3` as strings (it wants a dot and a signed exponent);
# YAML 1.2 and every user read them as numbers. Only this loader's resolvers change.
_StrictComposer.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def yaml_error_line(exc: yaml.YAMLError) -> str:
    """'line L, column C: problem' of a PyYAML error (one line, bounded)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return shown_text(f"{where}{problem}")


def shown_text(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def parse_yaml(text: str) -> Any:
    """Parse YAML `text` strictly (see the module doc); raises yaml.YAMLError."""
    try:
        return yaml.load(text, Loader=_StrictComposer)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:  # defensive: MAX_DEPTH keeps the composer far from the limit
        raise yaml.YAMLError("nested too deeply") from None


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML `text` strictly (see the module doc); UserError '<source>: YAML syntax error: ...'."""
    try:
        return parse_yaml(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{source}: YAML syntax error: {yaml_error_line(exc)}") from None


def read_text_file(path: str | Path, what: str, max_bytes: int = MAX_YAML_BYTES) -> str:
    """The UTF-8 text of a small input file; UserError naming the file when it is missing,
    unreadable, larger than `max_bytes` or not text. `what` names the kind of file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise UserError(f"{path}: is a folder, expected a {what} file")
        if size > max_bytes:
            raise UserError(f"{path}: {size} bytes is too large for a {what} (at most {max_bytes} bytes)")
        data = path.read_bytes()
    except OSError as exc:
        raise os_error(path, exc, f"read {what}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a text {what} (byte {exc.start} is not UTF-8)") from None


def load_yaml_file(path: str | Path, what: str) -> Any:
    """Read and parse a YAML file strictly; every failure is a one-line UserError naming it."""
    return load_yaml_text(read_text_file(path, what), str(path))
