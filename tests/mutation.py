"""Mutation testing of the core with mutmut, one module at a time against the tests that mirror it (issue 17).

`make mutation` runs every module below; `make mutation MODULES=coop/calendar.py` (or `python tests/mutation.py
coop/calendar.py`) runs one. Each module runs in a fresh copy of the tree under .coop/mutation/<module>/ (mutmut
writes a `mutants/` directory into the directory it runs from, so a copy keeps the working tree untouched and a
run sees one consistent snapshot). Scores and survivors land in .coop/mutation/<module>.json; tests/MUTATION.md
records the scores and the equivalent mutants.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".coop" / "mutation"
BIN = Path(sys.executable).parent
# Copied beside the mutated package so the tests import and run exactly as in the working tree.
TREE = ["coop", "models", "tasks", "flows", "tests", "agreements", "migrations", "alembic.ini", "pyproject.toml"]
COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "test-output", ".hypothesis")


@dataclass(frozen=True)
class Target:
    """One module to mutate, the test files that exercise it, and optionally which functions to mutate."""

    module: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = field(default=())

    @property
    def slug(self) -> str:
        return self.module.removesuffix(".py").replace("/", ".")


TARGETS = [
    Target("coop/calendar.py", ("tests/coop/test_calendar.py", "tests/coop/test_calendar_seasons.py")),
    Target("coop/recurrence.py", ("tests/coop/test_recurrence.py", "tests/coop/test_seasons.py")),
    Target("coop/ledger.py", ("tests/coop/test_ledger.py",)),
    Target("coop/store/ledger.py", ("tests/coop/store/test_ledger.py", "tests/coop/test_ledger.py")),
    Target("coop/agreement/loader.py", ("tests/coop/agreement/", "tests/reliability/test_bad_input.py")),
    Target(
        "coop/store/outbox.py",
        ("tests/coop/store/test_outbox.py", "tests/coop/store/test_outbox_shards.py"),
        ("claim", "settle", "ChannelFilter.*", "_due", "backlog_by_channel", "next_retry_at"),
    ),
    Target("coop/access.py", ("tests/coop/test_access.py",)),
    Target(
        "coop/planning.py",
        ("tests/coop/test_planning.py", "tests/coop/test_planning_changes.py", "tests/coop/test_planning_expand.py"),
    ),
    Target("coop/services/operations.py", ("tests/coop/services/test_operations.py",)),
    # The dispatcher's pacing: each robot's line, a message's place in it and its turns (issue 17), against the tests
    # that send through it.
    Target(
        "coop/notify/sender.py",
        (
            "tests/coop/notify/test_pacer.py",
            "tests/coop/notify/test_robot_rate.py",
            "tests/coop/notify/test_dispatch.py",
            "tests/coop/services/test_delivery_parts.py",
        ),
        ("ChannelPacer.*", "Place.*", "Turns.*"),
    ),
]

# mutmut's statuses; a timeout is a mutant the tests stopped (it looped), so it counts as killed.
KILLED = {"killed", "timeout", "caught by type check"}


def _setup_cfg(target: Target) -> str:
    also_copy = "\n    ".join(p for p in TREE if p not in ("coop", "tests", "pyproject.toml"))
    tests = "\n    ".join(target.tests)
    return (
        "[mutmut]\n"
        "source_paths = coop/\n"
        f"only_mutate = {target.module}\n"
        f"also_copy =\n    {also_copy}\n"
        f"pytest_add_cli_args_test_selection =\n    {tests}\n"
        "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -q\n"
    )


def _prepare(target: Target) -> Path:
    work = OUT / target.slug
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in TREE:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=COPY_IGNORE)
        elif src.exists():
            shutil.copy2(src, work / name)
    (work / "setup.cfg").write_text(_setup_cfg(target), encoding="utf-8")
    return work


def _mutmut(work: Path, *args: str) -> str:
    done = subprocess.run(
        ["nice", "-n", "10", str(BIN / "mutmut"), *args],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        # A tenth of the fuzz examples (tests/reliability/test_bad_input.py, test_fastyaml.py): a surviving mutant runs
        # every test that reaches it, and at full scale the loader's fuzz tests alone take ~60 s per survivor.
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COOP_FUZZ_SCALE": os.environ.get("COOP_FUZZ_SCALE", "0.1")},
    )
    return done.stdout + done.stderr


def _pattern(slug: str, name: str) -> str:
    """mutmut's names: `x_<function>__mutmut_<n>`, and `xǁ<Class>ǁ<method>__mutmut_<n>` for a method."""
    if "." not in name:
        return f"{slug}.x_{name}__mutmut_*"
    cls, method = name.split(".", 1)
    return f"{slug}.xǁ{cls}ǁ{method}" + ("" if method == "*" else "__mutmut_*")


def run(target: Target, max_children: int) -> dict[str, object]:
    """Mutate one module, run its tests against every mutant and return the score with each survivor's diff."""
    work = _prepare(target)
    started = time.monotonic()
    patterns = [_pattern(target.slug, name) for name in target.functions]
    log = _mutmut(work, "run", "--max-children", str(max_children), *patterns)
    return _results(target, work, patterns, log, started)


def _results(target: Target, work: Path, patterns: list[str], log: str, started: float) -> dict[str, object]:
    (OUT / f"{target.slug}.log").write_text(log, encoding="utf-8")
    statuses: dict[str, str] = {}
    for line in _mutmut(work, "results", "--all", "true").splitlines():
        m = re.fullmatch(r"\s+(\S+__mutmut_\d+): (.+)", line)
        if m and (not patterns or any(m[1].startswith(p.removesuffix("*")) for p in patterns)):
            statuses[m[1]] = m[2].strip()
    survivors = {name: _mutmut(work, "show", name) for name, s in sorted(statuses.items()) if s not in KILLED}
    killed = sum(s in KILLED for s in statuses.values())
    result: dict[str, object] = {
        "module": target.module,
        "tests": list(target.tests),
        "functions": list(target.functions),
        "total": len(statuses),
        "killed": killed,
        "by_status": {s: list(statuses.values()).count(s) for s in sorted(set(statuses.values()))},
        "seconds": round(time.monotonic() - started),
        "survivors": survivors,
    }
    (OUT / f"{target.slug}.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return result


def main(argv: list[str]) -> int:
    chosen = [t for t in TARGETS if not argv or t.module in argv]
    if argv and len(chosen) != len(argv):
        sys.stderr.write(f"未知模块 unknown module: {sorted(set(argv) - {t.module for t in chosen})}\n")
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    for target in chosen:
        children = int(os.environ.get("MUTATION_CHILDREN", "2"))
        r = run(target, children)
        total, killed = int(str(r["total"])), int(str(r["killed"]))
        share = f"{100 * killed / total:.1f} %" if total else "n/a"
        sys.stdout.write(f"{target.module}: {killed}/{total} killed ({share}) in {r['seconds']} s; {r['by_status']}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
