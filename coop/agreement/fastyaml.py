"""A fast path for reading well-formed agreement files: libyaml parses, ruamel decides what each scalar means.

ruamel's round-trip parser is pure Python (~30 ms for a 200-line agreement; a province has hundreds).
Here libyaml (C) builds the node tree and ruamel's own YAML 1.2 resolver and constructor type each plain
scalar, so a valid file reads to exactly the data the round-trip loader gives. Anything unusual — tags,
anchors, merge keys, duplicate keys, limits exceeded, text that cannot be stored, a syntax libyaml
rejects — returns None, and the caller takes the slow path, which owns every error message (file:line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode as RuamelScalarNode
from ruamel.yaml.resolver import VersionedResolver
from yaml import MappingNode, ScalarNode, SequenceNode
from yaml import YAMLError as LibyamlError
from yaml.resolver import BaseResolver

try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml: always the slow path
    LIBYAML = False
else:
    LIBYAML = True

_PLAIN = "coop:plain"
_QUOTED = "coop:quoted"
_STR = "tag:yaml.org,2002:str"
_RESOLVER = VersionedResolver()  # YAML 1.2, as the round-trip loader reads files without a %YAML directive
# An anchor (`&name`) where a node starts; the round-trip loader reads some anchored scalars its own way.
_ANCHOR = re.compile(r"(?:^|[\s\[{,:-])&[^\s]", re.MULTILINE)


class _Abandon(Exception):
    """Something the fast path does not reproduce exactly; the slow path decides."""


@dataclass(frozen=True)
class FastTree:
    data: dict[str, Any]
    clause_lines: dict[str, int]


if LIBYAML:

    class _Composer(CParser, BaseResolver):
        """libyaml composes; every untagged scalar is marked plain or quoted for `_scalar` to type."""

        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            BaseResolver.__init__(self)

        def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
            if kind is ScalarNode:
                return _PLAIN if implicit[0] else _QUOTED
            # types-PyYAML leaves BaseResolver.resolve unannotated; it returns the default tag for the kind.
            return str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]


@lru_cache(maxsize=4096)
def _typed(text: str) -> Any:
    """What the round-trip loader makes of a plain scalar that is not text (numbers, dates, booleans, null)."""
    return YAML(typ="rt").load(text)


def _scalar(node: ScalarNode) -> Any:
    if node.tag == _QUOTED:
        return node.value
    if node.tag != _PLAIN:
        raise _Abandon
    tag = str(_RESOLVER.resolve(RuamelScalarNode, node.value, (True, False)))
    if tag == _STR:
        return node.value
    if tag in ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"):
        raise _Abandon
    return _typed(node.value)


class _Builder:
    def __init__(self, max_nodes: int, max_depth: int, bad_text: re.Pattern[str]) -> None:
        self.max_nodes, self.max_depth, self.bad_text = max_nodes, max_depth, bad_text
        self.seen = 0
        self.open: set[int] = set()  # nodes being built: an alias back into one is a cycle

    def build(self, node: Any, depth: int = 0, key: Any = None) -> Any:
        self.seen += 1
        if self.seen > self.max_nodes or depth > self.max_depth or id(node) in self.open:
            raise _Abandon
        if isinstance(node, ScalarNode):
            value = _scalar(node)
            if key == "id" and node.tag == _PLAIN and isinstance(value, int | float) and not isinstance(value, bool):
                return node.value  # `id: 1.10` is the clause 1.10, as written, not the float 1.1
            if isinstance(value, str) and self.bad_text.search(value):
                raise _Abandon
            return value
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, depth + 1) for item in node.value]
            if isinstance(node, MappingNode):
                out: dict[Any, Any] = {}
                for key_node, value_node in node.value:
                    if not isinstance(key_node, ScalarNode):
                        raise _Abandon
                    name = self.build(key_node, depth + 1)
                    name = name if isinstance(name, str) else str(name)
                    if name in out:
                        raise _Abandon
                    out[name] = self.build(value_node, depth + 1, name)
                return out
        finally:
            self.open.discard(id(node))
        raise _Abandon


def _clause_lines(root: MappingNode) -> dict[str, int]:
    lines: dict[str, int] = {}
    for key, value in root.value:
        if key.value != "programmes" or not isinstance(value, SequenceNode):
            continue
        for programme in value.value:
            if not isinstance(programme, MappingNode):
                continue
            for pkey, clauses in programme.value:
                if pkey.value != "clauses" or not isinstance(clauses, SequenceNode):
                    continue
                for clause in clauses.value:
                    for ckey, cid in clause.value if isinstance(clause, MappingNode) else ():
                        if ckey.value == "id" and isinstance(cid, ScalarNode):
                            lines.setdefault(cid.value, clause.start_mark.line + 1)
    return lines


def fast_tree(text: str, max_nodes: int, max_depth: int, bad_text: re.Pattern[str]) -> FastTree | None:
    """The plain data of a well-formed agreement file, or None when only the slow path can say what it is."""
    if not LIBYAML or "%YAML" in text or "<<" in text or _ANCHOR.search(text):
        return None
    try:
        composer = _Composer(text)
        try:
            root = composer.get_single_node()
        finally:
            composer.dispose()
        if not isinstance(root, MappingNode):
            return None
        data = _Builder(max_nodes, max_depth, bad_text).build(root)
    except (_Abandon, LibyamlError, RecursionError, ValueError):
        return None
    return FastTree(data, _clause_lines(root))
