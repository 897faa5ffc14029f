"""`coop check`: every problem of an agreement file, with file:line:column, without a database."""

from __future__ import annotations

import re
from pathlib import Path

from coop.agreement.loader import (
    Registry,
    load_organisations,
    parse_agreement,
    repair_typography,
    typography_problems,
)
from coop.agreement.organisations import REGISTRY_FILE
from coop.errors import AgreementError, Problem

# A decision `coop draft` left to the coordinator: `# TODO ...` as a comment of its own or after a value.
_MISSING = re.compile(r"'([A-Za-z_.0-9]+)': 缺少必填项")
_TODO = re.compile(r"(?:^|\s)#\s*TODO\b[\s:：]*(.*)$")


def check_file(path: str | Path, organisations: Registry = None) -> list[Problem]:
    """Every problem of one agreement (or of the organisation registry, by its file name); [] when valid."""
    path = Path(path)
    name = str(path)
    if path.name == REGISTRY_FILE:
        try:
            load_organisations(path)
        except AgreementError as exc:
            return _located(exc.problems, _lines_of(path))
        return []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [Problem(name, None, f"无法读取文件：{exc.strerror or exc} (cannot read file)")]
    return check_text(raw, name, organisations or path.parent / REGISTRY_FILE)


def check_text(raw: bytes | str, name: str, organisations: Registry = None) -> list[Problem]:
    """Every problem in reading order: full-width punctuation and TODOs first found by line, then the format's.

    Full-width marks are repaired before the file is parsed, so a `：` does not hide what comes after it.
    """
    try:
        text = raw if isinstance(raw, str) else raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None:
        return _try(raw, name, organisations, [])
    lines = text.split("\n")
    todos = todo_problems(text, name)
    found = _try(repair_typography(text), name, organisations, typography_problems(text, name) + todos)
    return _located([p for p in found if not _covered(p, todos, lines)], lines)


def todo_problems(text: str, name: str) -> list[Problem]:
    """Each `# TODO` comment, as a problem: a draft is not an agreement until every decision is made."""
    problems = []
    for number, line in enumerate(text.split("\n"), 1):
        if match := _TODO.search(line):
            column = line.index("#", match.start()) + 1
            what = match.group(1).strip() or "待定"
            problems.append(Problem(name, number, f"待定事项：{what} (TODO left in the draft)", column))
    return problems


def _covered(problem: Problem, todos: list[Problem], lines: list[str]) -> bool:
    """A missing key that a `# TODO` of the same mapping names is that TODO, not a second problem."""
    missing = _MISSING.search(problem.message)
    if not missing or not problem.line or not problem.column:
        return False
    key = re.compile(rf"(?<![A-Za-z_]){re.escape(missing.group(1).rsplit('.', 1)[-1])}(?![A-Za-z_])")
    indent = problem.column - 1
    for todo in todos:
        if todo.line and todo.line >= problem.line and todo.column == indent + 1 and key.search(todo.message):
            between = lines[problem.line : todo.line - 1]
            if all(not line.strip() or len(line) - len(line.lstrip(" ")) >= indent for line in between):
                return True
    return False


def _try(raw: bytes | str, name: str, organisations: Registry, found: list[Problem]) -> list[Problem]:
    try:
        parse_agreement(raw, name, organisations=organisations)
    except AgreementError as exc:
        seen = {(p.line, p.message) for p in found}
        found = found + [p for p in exc.problems if (p.line, p.message) not in seen]
    return sorted(found, key=lambda p: (p.line or 0, p.column or 0))


def _located(problems: list[Problem], lines: list[str]) -> list[Problem]:
    """A problem known only by its line points at the line's first key or value (past indentation and `- `)."""
    located = []
    for p in problems:
        if p.column is None and p.line and 0 < p.line <= len(lines):
            line = lines[p.line - 1]
            stripped = line.lstrip(" ")
            while stripped.startswith("- "):
                stripped = stripped[2:].lstrip(" ")
            p = Problem(p.file, p.line, p.message, len(line) - len(stripped) + 1)
        located.append(p)
    return located


def _lines_of(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError):
        return []


def where(problem: Problem) -> str:
    """file:line:column (as editors and compilers print it), or as much of it as is known."""
    parts = [problem.file] + [str(n) for n in (problem.line, problem.column) if n is not None]
    if problem.line is None:
        parts = [problem.file]
    return ":".join(parts)
