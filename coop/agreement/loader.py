"""Read an agreement YAML file, validate it, and report every problem with file:line."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from coop.agreement.fastyaml import fast_tree
from coop.agreement.schema import Agreement
from coop.errors import AgreementError, Problem

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 12
# A 2 MB agreement holds a few tens of thousands of values; YAML aliases can repeat a node without
# bounds (a few hundred bytes of "billion laughs" expand to 10^9), so the tree is counted before use.
MAX_NODES = 200_000
# Text the database cannot store (NUL, unpaired surrogates) or a reader should never see (control codes).
_BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class LoadedAgreement:
    """A validated agreement plus what is needed to point back into its file."""

    agreement: Agreement
    path: str
    content_hash: str
    clause_lines: dict[str, int] = field(default_factory=dict)

    def problem(self, clause_id: str, message: str) -> AgreementError:
        return AgreementError([Problem(self.path, self.clause_lines.get(clause_id), f"clause {clause_id}: {message}")])


def content_hash(agreement: Agreement) -> str:
    """Hash of the meaning, not the bytes: comments and key order do not create a new version."""
    canonical = json.dumps(agreement.model_dump(mode="json"), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_agreement(path: str | Path) -> LoadedAgreement:
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AgreementError([Problem(name, None, f"cannot read file: {exc.strerror or exc}")]) from None
    return parse_agreement(raw, name)


def parse_agreement(raw: bytes | str, name: str = "<agreement>", fast: bool = True) -> LoadedAgreement:
    """`fast=False` skips the libyaml fast path (tests compare both)."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_FILE_BYTES:
        raise AgreementError([Problem(name, None, f"file is {len(data)} bytes; the limit is {MAX_FILE_BYTES}")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgreementError([Problem(name, None, f"not UTF-8 text (byte {exc.start})")]) from None
    if fast and (loaded := _parse_fast(text, name)) is not None:
        return loaded
    tree = _parse_yaml(text, name)
    _check_tree(tree, name)
    _unquote_numeric_ids(tree, text)
    try:
        agreement = Agreement.model_validate(_plain(tree))
    except ValidationError as exc:
        raise AgreementError(_problems_from_validation(exc, tree, name)) from None
    problems = list(_cross_references(agreement, tree, name))
    if problems:
        raise AgreementError(problems)
    return LoadedAgreement(agreement, name, content_hash(agreement), _clause_lines(tree))


def _parse_fast(text: str, name: str) -> LoadedAgreement | None:
    """A valid file, read without the round-trip parser; None sends anything doubtful down the path that explains errors."""
    fast = fast_tree(text, MAX_NODES, MAX_DEPTH, _BAD_TEXT)
    if fast is None:
        return None
    try:
        agreement = Agreement.model_validate(fast.data)
    except ValidationError:
        return None
    if next(iter(_cross_references(agreement, fast.data, name)), None) is not None:
        return None
    return LoadedAgreement(agreement, name, content_hash(agreement), fast.clause_lines)


def _parse_yaml(text: str, name: str) -> CommentedMap:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise AgreementError([Problem(name, line, f"YAML syntax: {exc.problem or exc.context}")]) from None
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. duplicate keys in some versions)
        raise AgreementError([Problem(name, None, f"YAML syntax: {exc}")]) from None
    if not isinstance(tree, CommentedMap):
        raise AgreementError(
            [Problem(name, 1, "the file must be a mapping with id, title, signed, term, parties, programmes")]
        )
    return tree


def _check_tree(tree: Any, name: str) -> None:
    """Bound the tree before anything walks it: depth, number of values (aliases included), storable text."""
    stack: list[tuple[Any, int, int | None]] = [(tree, 0, 1)]
    seen = 0
    while stack:
        node, depth, line = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise AgreementError(
                [
                    Problem(
                        name, None, f"more than {MAX_NODES} values (YAML anchors/aliases count each time they are used)"
                    )
                ]
            )
        if depth > MAX_DEPTH:
            raise AgreementError(
                [
                    Problem(
                        name,
                        node.lc.line + 1 if hasattr(node, "lc") else line,
                        f"nested deeper than {MAX_DEPTH} levels",
                    )
                ]
            )
        if isinstance(node, dict):
            for i, (key, value) in enumerate(node.items()):
                at = _child_line(node, key, i, line)
                _check_text(key, name, at)
                stack.append((value, depth + 1, at))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                stack.append((value, depth + 1, _child_line(node, None, i, line)))
        else:
            _check_text(node, name, line)


def _child_line(node: Any, key: Any, index: int, fallback: int | None) -> int | None:
    try:
        return (node.lc.key(key) if key is not None else node.lc.item(index))[0] + 1
    except (AttributeError, KeyError, IndexError, TypeError):  # merged (<<) keys have no position of their own
        return fallback


def _check_text(value: Any, name: str, line: int | None) -> None:
    if isinstance(value, str) and (bad := _BAD_TEXT.search(value)):
        raise AgreementError(
            [
                Problem(
                    name,
                    line,
                    f"text contains U+{ord(bad.group()):04X}, a control code or broken character that cannot be stored",
                )
            ]
        )


def _unquote_numeric_ids(node: Any, text: str) -> None:
    """YAML reads `id: 1.10` as the float 1.1; take the digits as written instead."""
    lines = text.splitlines()
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if key == "id" and isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    line, col = node.lc.value(key)
                    token = lines[line][col:].split("#", 1)[0].strip()
                except (KeyError, IndexError):  # an id merged in through `<<` has no position of its own
                    token = ""
                node[key] = token or str(value)
            else:
                _unquote_numeric_ids(value, text)
    elif isinstance(node, CommentedSeq):
        for value in node:
            _unquote_numeric_ids(value, text)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _line_of(tree: Any, loc: Iterable[Any]) -> int | None:
    """Line of the deepest node of `loc` that exists in the YAML tree."""
    node, line = tree, 1
    for part in loc:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError):  # merged (<<) keys have no position of their own
            break
    return line


def _label(tree: Any, loc: tuple[Any, ...]) -> str:
    """Say where in the agreement, in domain words: `clause 2.3 'rotate'`, `party 渝北区 'departments'`."""
    node: Any = tree
    owner = ""
    rest: list[str] = []
    for i, part in enumerate(loc):
        parent_key = loc[i - 1] if i else None
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            rest.append(str(part))
            node = None
            continue
        if isinstance(part, int) and isinstance(node, dict):
            ident = node.get("id") or node.get("name")
            kind = {
                "clauses": "clause",
                "programmes": "programme",
                "parties": "party",
                "departments": "department",
            }.get(str(parent_key), str(parent_key))
            owner = f"{kind} {ident}" if ident is not None else f"{kind} #{part + 1}"
            rest = []
        else:
            rest.append(str(part))
    field_path = ".".join(rest)
    if owner and field_path:
        return f"{owner} '{field_path}'"
    return owner or (f"'{field_path}'" if field_path else "agreement")


def _problems_from_validation(exc: ValidationError, tree: Any, name: str) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        # Discriminated/union errors append the type name; drop it from the path.
        loc = tuple(p for p in loc if not (isinstance(p, str) and p[:1].isupper()))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the agreement format; see agreements/README.md)"
        elif err["type"] == "missing":
            msg = "is required but missing"
        elif err["type"] == "string_type" and isinstance(err.get("input"), int | float):
            msg = f"must be text; quote it: '{err['input']}'"
        problems.append(Problem(name, _line_of(tree, loc), f"{_label(tree, loc)}: {msg}"))
    return problems


def _clause_lines(tree: Any) -> dict[str, int]:
    lines: dict[str, int] = {}
    for programme in tree.get("programmes") or []:
        clauses = programme.get("clauses") if isinstance(programme, dict) else None
        for i, clause in enumerate(clauses or []):
            if isinstance(clause, dict) and "id" in clause:
                lines[str(clause["id"])] = clauses.lc.item(i)[0] + 1
    return lines


def _cross_references(agreement: Agreement, tree: Any, name: str) -> Iterable[Problem]:
    """Checks no single field can make: names that must refer to something defined elsewhere."""
    parties = {p.name: p for p in agreement.parties}
    if len(parties) != len(agreement.parties):
        seen: set[str] = set()
        for i, p in enumerate(agreement.parties):
            if p.name in seen:
                yield Problem(name, _line_of(tree, ("parties", i, "name")), f"party '{p.name}' is listed twice")
            seen.add(p.name)
    seen_clauses: set[str] = set()
    seen_programmes: set[str] = set()
    term = agreement.term
    for pi, programme in enumerate(agreement.programmes):
        if programme.id in seen_programmes:
            yield Problem(
                name, _line_of(tree, ("programmes", pi, "id")), f"programme id '{programme.id}' is used twice"
            )
        seen_programmes.add(programme.id)
        for ci, clause in enumerate(programme.clauses):
            at = ("programmes", pi, "clauses", ci)

            def here(*sub: Any, _at: tuple[Any, ...] = at) -> int | None:
                return _line_of(tree, _at + sub)

            label = f"clause {clause.id}"
            if clause.id in seen_clauses:
                yield Problem(name, here("id"), f"{label}: id is used twice")
            seen_clauses.add(clause.id)
            resp = clause.responsible
            if resp.party is not None:
                party = parties.get(resp.party)
                if party is None:
                    yield Problem(
                        name, here("responsible", "party"), f"{label} 'responsible' names unknown party '{resp.party}'"
                    )
                elif resp.department and resp.department not in {d.name for d in party.departments}:
                    yield Problem(
                        name,
                        here("responsible", "department"),
                        f"{label} 'responsible' names unknown department '{resp.department}' of party '{resp.party}'",
                    )
            elif resp.department:
                for p in agreement.parties:
                    if resp.department not in {d.name for d in p.departments}:
                        yield Problem(
                            name,
                            here("responsible", "department"),
                            f"{label} 'responsible': party '{p.name}' has no department '{resp.department}'",
                        )
            for fld, names in (
                ("lead", [clause.lead] if clause.lead else []),
                ("co_organisers", clause.co_organisers),
                ("rotate", clause.rotate),
            ):
                for i, party_name in enumerate(names):
                    if party_name not in parties:
                        line = here(fld) if fld == "lead" else here(fld, i)
                        yield Problem(name, line, f"{label} '{fld}' names unknown party '{party_name}'")
            rec = clause.recurrence
            for fld in ("once", "deadline"):
                day = getattr(rec, fld)
                if day is not None and not (term.start <= day <= term.end):
                    yield Problem(
                        name,
                        here("recurrence", fld),
                        f"{label} 'recurrence.{fld}' {day} is outside the term {term.start} – {term.end}",
                    )
            if rec.rrule is not None:
                error = _rrule_error(rec.rrule, term.start)
                if error:
                    yield Problem(name, here("recurrence", "rrule"), f"{label} 'recurrence.rrule': {error}")


def _rrule_error(rule: str, start: Any) -> str | None:
    from coop.recurrence import parse_rrule

    try:
        parse_rrule(rule, start)
    except ValueError as exc:
        return str(exc)
    return None
