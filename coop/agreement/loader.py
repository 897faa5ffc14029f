"""Read an agreement YAML file, validate it, and report every problem with file:line."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import methodcaller
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from coop.agreement.fastyaml import fast_tree
from coop.agreement.organisations import REGISTRY_FILE, Organisations, resolve_refs
from coop.agreement.rrule import parse_rrule
from coop.agreement.schema import Agreement, date_problems
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
    meaning = agreement.model_dump(mode="json")
    # Fields added later count only when written, so an unchanged file keeps its hash (and its version).
    for key, unset in (("amended", []), ("tracking_from", None), ("total_targets", {}), ("metric_labels", {})):
        if meaning.get(key) == unset:
            meaning.pop(key, None)
    for party in meaning.get("parties", []):
        for key in ("ref", "id", "location"):
            if party.get(key) is None:
                party.pop(key, None)
        for department in party.get("departments", []):
            if department.get("id") is None:
                department.pop("id", None)
    for programme in meaning.get("programmes", []):
        _drop_unset(programme, {"total_targets": {}})
        for clause in programme.get("clauses", []):
            _drop_unset(clause, ADDED_CLAUSE_DEFAULTS)
            _drop_unset(clause.get("responsible", {}), {"from_host": False})
            _drop_unset(clause.get("recurrence", {}), ADDED_RECURRENCE_DEFAULTS)
    canonical = json.dumps(meaning, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# Schedule and hand-over fields added after agreements were first planned: unwritten, they leave the hash alone.
ADDED_RECURRENCE_DEFAULTS: dict[str, object] = {
    "workday": None,
    "dates": None,
    "anchor": None,
    "season": None,
    "region": None,
    "at": None,
    "offset": None,
    "offset_unit": None,
    "on_demand": None,
}
ADDED_CLAUSE_DEFAULTS: dict[str, object] = {"location_from_host": False, "total_targets": {}, "sign_off": "lead"}


def _drop_unset(mapping: dict[str, Any], defaults: dict[str, object]) -> None:
    for key, unset in defaults.items():
        if key in mapping and mapping[key] == unset:
            del mapping[key]


Registry = Organisations | Path | None
"""The organisation registry, or where to read it if an agreement refers to it (`ref:`), or none."""


def load_agreement(path: str | Path, organisations: Registry = None) -> LoadedAgreement:
    """`organisations` defaults to organisations.yaml beside the file, read only when a party has `ref:`."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AgreementError([Problem(name, None, _unreadable(exc))]) from None
    return parse_agreement(raw, name, organisations=organisations or path.parent / REGISTRY_FILE)


def load_organisations(path: str | Path) -> Organisations:
    """Read and validate an organisation registry; every problem with file:line."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AgreementError([Problem(name, None, _unreadable(exc))]) from None
    if len(data) > MAX_FILE_BYTES:
        raise AgreementError([Problem(name, None, _too_big(len(data)))])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgreementError([Problem(name, None, _not_utf8(exc.start))]) from None
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        raise AgreementError(typography_problems(text, name) or [_syntax_problem(exc, name)]) from None
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. duplicate keys in some versions)
        raise AgreementError([Problem(name, None, f"YAML 语法错误 (YAML syntax): {exc}")]) from None
    if tree is None:
        return Organisations()
    if not isinstance(tree, CommentedMap):
        raise AgreementError([Problem(name, 1, "组织名录须是一个映射：organisations: [...]")])
    _check_tree(tree, name)
    try:
        return Organisations.model_validate(_plain(tree))
    except ValidationError as exc:
        raise AgreementError(_problems_from_validation(exc, tree, name)) from None


def _registry(data: Any, organisations: Registry) -> Organisations | None:
    """The registry, read from its file only when some party refers to it."""
    if not isinstance(organisations, Path):
        return organisations
    parties = data.get("parties") if isinstance(data, dict) else None
    wanted = isinstance(parties, list) and any(isinstance(p, dict) and p.get("ref") is not None for p in parties)
    if not wanted or not organisations.is_file():
        return None
    return load_organisations(organisations)


def parse_agreement(
    raw: bytes | str, name: str = "<agreement>", fast: bool = True, organisations: Registry = None
) -> LoadedAgreement:
    """`fast=False` skips the libyaml fast path (tests compare both); `organisations` resolves `ref:` parties."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_FILE_BYTES:
        raise AgreementError([Problem(name, None, _too_big(len(data)))])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgreementError([Problem(name, None, _not_utf8(exc.start))]) from None
    if fast and (loaded := _parse_fast(text, name, organisations)) is not None:
        return loaded
    tree = _parse_yaml(text, name)
    _check_tree(tree, name)
    _unquote_numeric_ids(tree, text)
    data = _plain(tree)
    unresolved = [
        Problem(name, _line_of(tree, loc), msg) for loc, msg in resolve_refs(data, _registry(data, organisations))
    ]
    if unresolved:
        raise AgreementError(unresolved)
    try:
        agreement = Agreement.model_validate(data)
    except ValidationError as exc:
        # A full-width colon YAML accepted (it made `key：value` one plain text) is the cause to name first.
        raise AgreementError(typography_problems(text, name) + _problems_from_validation(exc, tree, name)) from None
    problems = list(_cross_references(agreement, tree, name))
    if problems:
        raise AgreementError(problems)
    return LoadedAgreement(agreement, name, content_hash(agreement), _clause_lines(tree))


def _parse_fast(text: str, name: str, organisations: Registry) -> LoadedAgreement | None:
    """A valid file, read without the round-trip parser.

    None sends anything doubtful down the path that explains errors.
    """
    fast = fast_tree(text, MAX_NODES, MAX_DEPTH, _BAD_TEXT)
    if fast is None:
        return None
    if next(iter(resolve_refs(fast.data, _registry(fast.data, organisations))), None) is not None:
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
        # A full-width colon after a key breaks the YAML one line later; name it on its own line instead.
        raise AgreementError(typography_problems(text, name) or [_syntax_problem(exc, name)]) from None
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. duplicate keys in some versions)
        raise AgreementError([Problem(name, None, f"YAML 语法错误 (YAML syntax): {exc}")]) from None
    if not isinstance(tree, CommentedMap):
        raise AgreementError(
            [
                Problem(
                    name,
                    1,
                    "文件须是一个映射，包含 id、title、signed、term、parties、programmes "
                    "(the file must be a mapping with id, title, signed, term, parties, programmes)",
                )
            ]
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
                        name,
                        None,
                        f"值超过 {MAX_NODES} 个（YAML 锚点/别名每用一次都计数）"
                        f"(more than {MAX_NODES} values; YAML anchors/aliases count each time they are used)",
                    )
                ]
            )
        if depth > MAX_DEPTH:
            raise AgreementError(
                [
                    Problem(
                        name,
                        node.lc.line + 1 if hasattr(node, "lc") else line,
                        f"嵌套超过 {MAX_DEPTH} 层 (nested deeper than {MAX_DEPTH} levels)",
                    )
                ]
            )
        if isinstance(node, dict):
            for key, value in node.items():
                at = _child_line(node, methodcaller("key", key), line)
                _check_text(key, name, at)
                stack.append((value, depth + 1, at))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                stack.append((value, depth + 1, _child_line(node, methodcaller("item", i), line)))
        else:
            _check_text(node, name, line)


def _child_line(node: Any, position: Callable[[Any], Any], fallback: int | None) -> int | None:
    """The line ruamel recorded for a key (`lc.key`) or list item (`lc.item`); a null key is a key too."""
    try:
        return int(position(node.lc)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):  # merged (<<) keys have no position of their own
        return fallback


def _check_text(value: Any, name: str, line: int | None) -> None:
    if isinstance(value, str) and (bad := _BAD_TEXT.search(value)):
        raise AgreementError(
            [
                Problem(
                    name,
                    line,
                    f"文本含 U+{ord(bad.group()):04X}，是无法保存的控制字符或损坏字符 "
                    f"(text contains U+{ord(bad.group()):04X}, a control code or broken character)",
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
    return _position_of(tree, loc)[0]


def _position_of(tree: Any, loc: Iterable[Any]) -> tuple[int | None, int | None]:
    """(line, column), 1-based, of the deepest node of `loc` that exists in the YAML tree (its key, for a mapping)."""
    node, line, column = tree, 1, 1
    if not isinstance(tree, CommentedMap | CommentedSeq):  # the fast path's plain dicts carry no positions
        return line, None
    for part in loc:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line, column = node.lc.key(part)[0] + 1, node.lc.key(part)[1] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line, column = node.lc.item(part)[0] + 1, node.lc.item(part)[1] + 1
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError):  # merged (<<) keys have no position of their own
            break
    return line, column


def _label(tree: Any, loc: tuple[Any, ...]) -> str:
    """Say where in the agreement, in domain words: `条款 2.3 'rotate'`, `参与方 渝北区 'departments'`."""
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
                "clauses": "条款",
                "programmes": "项目",
                "parties": "参与方",
                "departments": "部门",
            }.get(str(parent_key), str(parent_key))
            owner = f"{kind} {ident}" if ident is not None else f"{kind} #{part + 1}"
            rest = []
        else:
            rest.append(str(part))
    field_path = ".".join(rest)
    if owner and field_path:
        return f"{owner} '{field_path}'"
    return owner or (f"'{field_path}'" if field_path else "协议")


def _problems_from_validation(exc: ValidationError, tree: Any, name: str) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        line, column = _position_of(tree, loc)
        problems.append(Problem(name, line, f"{_label(tree, loc)}: {validation_message(err)}", column))
    return problems


def validation_message(err: ErrorDetails) -> str:
    """One pydantic error in Chinese first, pydantic's English after; the value written is shown only for dates and
    choices (a mistyped channel may be a secret URL)."""
    kind, english = str(err["type"]), str(err["msg"]).removeprefix("Value error, ")
    ctx: dict[str, Any] = err.get("ctx") or {}
    given = err.get("input")
    if kind == "value_error":
        return english  # the format's own validators already write Chinese first
    if kind == "extra_forbidden":
        return "未知的键，不属于协议格式，见 agreements/README.md (unknown key; not part of the agreement format)"
    if kind == "missing":
        return "缺少必填项 (is required but missing)"
    if kind == "string_type" and isinstance(given, int | float):
        return f"须是文本，请加引号：'{given}' (must be text; quote it: '{given}')"
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type", "date_from_datetime_inexact"):
        return f"日期须写成 YYYY-MM-DD，如 {_date_example(given)}（现在写的是 {_shown(given)}）({english})"
    if kind == "literal_error":  # pydantic's English repeats the whole list of choices
        return f"须是以下之一：{ctx.get('expected')}（现在写的是 {_shown(given)}）(not one of the allowed values)"
    chinese = {
        "string_pattern_mismatch": f"格式不对，须符合 {ctx.get('pattern')}",
        "int_parsing": "须是整数",
        "int_type": "须是整数",
        "int_from_float": "须是整数，不能有小数",
        "bool_parsing": "须是 true 或 false",
        "bool_type": "须是 true 或 false",
        "too_short": f"至少要写 {ctx.get('min_length')} 项",
        "too_long": f"最多写 {ctx.get('max_length')} 项",
        "string_too_short": "不能为空",
        "string_too_long": f"最多 {ctx.get('max_length')} 个字符",
        "greater_than_equal": f"须不小于 {ctx.get('ge')}",
        "less_than_equal": f"须不大于 {ctx.get('le')}",
        "list_type": "须是列表，如 [a, b] 或每行一个 - a",
        "dict_type": "须是映射（键: 值）",
        "model_type": "须是映射（键: 值）",
        "model_attributes_type": "须是映射（键: 值）",
        "string_type": "须是文本",
    }.get(kind)
    return f"{chinese} ({english})" if chinese else english


def _shown(given: object) -> str:
    """The value as written, cut short: enough to find it in the file."""
    text = repr(given)
    return text if len(text) <= 40 else text[:37] + "…"


def _date_example(given: object) -> str:
    """The date the user most likely meant, as YYYY-MM-DD (2025/6/30 → 2025-06-30), else a fixed example."""
    match = re.fullmatch(r"\s*(\d{4})\s*[/.年\-－]\s*(\d{1,2})\s*[/.月\-－]\s*(\d{1,2})\s*日?\s*", str(given))
    if match:
        try:
            return dt.date(*(int(g) for g in match.groups())).isoformat()
        except ValueError:
            pass
    return "2025-06-30"


def _unreadable(exc: OSError) -> str:
    return f"无法读取文件：{exc.strerror or exc} (cannot read file)"


def _too_big(size: int) -> str:
    return f"文件有 {size} 字节，超过上限 {MAX_FILE_BYTES} (file is {size} bytes; the limit is {MAX_FILE_BYTES})"


def _not_utf8(byte: int) -> str:
    return f"不是 UTF-8 文本（第 {byte} 字节）；请另存为 UTF-8 (not UTF-8 text, byte {byte})"


def _syntax_problem(exc: MarkedYAMLError, name: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return Problem(name, line, f"YAML 语法错误 (YAML syntax): {exc.problem or exc.context}", column)


# Full-width punctuation typed where YAML needs the ASCII one (Chinese input methods produce it by default).
_FULLWIDTH_COLON = re.compile(r"^(\s*(?:-\s+)*[A-Za-z_][A-Za-z0-9_]*\s*)：")
_IDEOGRAPHIC_INDENT = re.compile(r"^[ \t]*\u3000")
_FULLWIDTH_DASH = re.compile(r"^(\s*)[－—]\s")
_FLOW_LIST = re.compile(r"^(\s*(?:-\s+)?[A-Za-z_][A-Za-z0-9_]*\s*:\s*\[)([^\]#]*)\]")


def typography_problems(text: str, name: str) -> list[Problem]:
    """Full-width punctuation where YAML needs ASCII, each on its own line and named, with its column."""
    return [problem for problem, _ in _typography(text, name)]


def repair_typography(text: str) -> str:
    """The text with each reported full-width mark replaced, so that later problems can still be found."""
    lines = text.split("\n")
    for _, (index, fixed) in _typography(text, "<text>"):
        lines[index] = fixed
    return "\n".join(lines)


def _typography(text: str, name: str) -> Iterator[tuple[Problem, tuple[int, str]]]:
    for index, line in enumerate(text.split("\n")):
        number = index + 1
        if match := _FULLWIDTH_COLON.match(line):
            column = len(match.group(1)) + 1
            rest = line[match.end() :]
            fixed = match.group(1) + ":" + ("" if rest[:1] in ("", " ") else " ") + rest
            yield (
                Problem(
                    name,
                    number,
                    "全角冒号“：”，请改为半角冒号“:”（冒号后留一个空格）(full-width colon after a key; use ':')",
                    column,
                ),
                (index, fixed),
            )
        elif match := _IDEOGRAPHIC_INDENT.match(line):
            column = match.end()
            yield (
                Problem(name, number, "缩进里有全角空格“　”，请改为半角空格 (full-width space in indentation)", column),
                (index, line[: column - 1] + "  " + line[column:]),
            )
        elif match := _FULLWIDTH_DASH.match(line):
            column = len(match.group(1)) + 1
            mark = line[column - 1]
            yield (
                Problem(
                    name, number, f"列表项以全角符号“{mark}”开头，请改为半角“-” (full-width dash; use '-')", column
                ),
                (index, line[: column - 1] + "-" + line[column:]),
            )
        elif (match := _FLOW_LIST.match(line)) and "，" in match.group(2):
            column = len(match.group(1)) + match.group(2).index("，") + 1
            yield (
                Problem(
                    name,
                    number,
                    "列表中有全角逗号“，”，请改为半角逗号“,” (full-width comma in a [list]; use ',')",
                    column,
                ),
                (index, match.group(1) + match.group(2).replace("，", ", ") + line[match.end() - 1 :]),
            )


def _clause_lines(tree: Any) -> dict[str, int]:
    lines: dict[str, int] = {}
    for programme in tree.get("programmes") or []:
        clauses = programme.get("clauses") if isinstance(programme, dict) else None
        if not clauses:
            continue
        for i, clause in enumerate(clauses):
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
                yield Problem(
                    name,
                    _line_of(tree, ("parties", i, "name")),
                    f"参与方 '{p.name}' 列了两次 (party '{p.name}' is listed twice)",
                )
            seen.add(p.name)
    keys = [p.ref or p.id for p in agreement.parties]
    for i, key in enumerate(keys):
        if key is not None and key in keys[:i]:
            yield Problem(
                name, _line_of(tree, ("parties", i)), f"组织 '{key}' 在 parties 中出现两次 (party listed twice)"
            )
    seen_clauses: set[str] = set()
    seen_programmes: set[str] = set()
    term = agreement.term
    for pi, programme in enumerate(agreement.programmes):
        if programme.id in seen_programmes:
            yield Problem(
                name,
                _line_of(tree, ("programmes", pi, "id")),
                f"项目编号 '{programme.id}' 重复 (programme id '{programme.id}' is used twice)",
            )
        seen_programmes.add(programme.id)
        for ci, clause in enumerate(programme.clauses):
            at = ("programmes", pi, "clauses", ci)

            def here(*sub: Any, _at: tuple[Any, ...] = at) -> int | None:
                return _line_of(tree, _at + sub)

            label = f"条款 {clause.id}"
            if clause.id in seen_clauses:
                yield Problem(name, here("id"), f"{label}：编号重复 (clause {clause.id}: id is used twice)")
            seen_clauses.add(clause.id)
            resp = clause.responsible
            if resp.party is not None:
                party = parties.get(resp.party)
                if party is None:
                    yield Problem(
                        name,
                        here("responsible", "party"),
                        f"{label} 'responsible' 指向未知的参与方 (unknown party '{resp.party}')",
                    )
                elif resp.department and resp.department not in {d.name for d in party.departments}:
                    yield Problem(
                        name,
                        here("responsible", "department"),
                        f"{label} 'responsible'：参与方 '{resp.party}' 没有部门 '{resp.department}' "
                        f"(unknown department '{resp.department}' of party '{resp.party}')",
                    )
            elif resp.department and not resp.from_host:  # a hand-over's department is checked per host
                for p in agreement.parties:
                    if resp.department not in {d.name for d in p.departments}:
                        yield Problem(
                            name,
                            here("responsible", "department"),
                            f"{label} 'responsible'：参与方 '{p.name}' 没有部门 '{resp.department}' "
                            f"(party '{p.name}' has no department '{resp.department}')",
                        )
            for fld, names in (
                ("lead", [clause.lead] if clause.lead else []),
                ("co_organisers", clause.co_organisers),
                ("rotate", clause.rotate),
            ):
                for i, party_name in enumerate(names):
                    if party_name not in parties:
                        line = here(fld) if fld == "lead" else here(fld, i)
                        yield Problem(name, line, f"{label} '{fld}' 指向未知的参与方 (unknown party '{party_name}')")
            rec = clause.recurrence
            for fld in ("once", "deadline"):
                day = getattr(rec, fld)
                if day is not None and not (term.start <= day <= term.end):
                    yield Problem(
                        name,
                        here("recurrence", fld),
                        f"{label} 'recurrence.{fld}' {day} 不在协议期 {term.start} – {term.end} 内 (outside the term)",
                    )
            if rec.rrule is not None:
                error = _rrule_error(rec.rrule, term.start)
                if error:
                    yield Problem(
                        name,
                        here("recurrence", "rrule"),
                        f"{label} 'recurrence.rrule'：RRULE 无效 (invalid RRULE): {error}",
                    )
    for loc, message in date_problems(agreement):
        yield Problem(name, _line_of(tree, loc), message)


def _rrule_error(rule: str, start: Any) -> str | None:
    try:
        parse_rrule(rule, start)
    except ValueError as exc:
        return str(exc)
    return None
