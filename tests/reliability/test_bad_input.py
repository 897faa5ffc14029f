"""Bad input of every kind gets a clear error and leaves the database as it was.

Agreement files: random bytes, random YAML, mutations of a valid agreement (wrong types, unknown keys,
unknown parties, removed sections), alias bombs, deep nesting, huge files and absurd recurrences — the
loader answers `AgreementError` (never another exception), and a file that loads also plans, or fails
with `AgreementError` writing nothing. Completion reports and `coop done --metric` input likewise.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from reliability.scenario import CAL, snapshot, verify_ledger
from ruamel.yaml import YAML
from sqlalchemy import text as sql
from typer.testing import CliRunner

from coop.agreement.loader import MAX_FILE_BYTES, LoadedAgreement, parse_agreement
from coop.agreement.schema import Recurrence, Term
from coop.cli import app
from coop.cli.report import parse_metrics as _parse_metrics
from coop.errors import AgreementError, CoopError
from coop.planning import calendar_fingerprint, check_unique_keys, expand
from coop.recurrence import nominal_dates
from coop.report import CompletionReport
from coop.services.notifications import batch_notices, record_due_notices
from coop.services.planning import expand_checked
from coop.settings import get_settings
from coop.store.occurrences import record_completion
from coop.store.plans import apply_plan
from models.db import session_scope

NOTIFY = (FIXTURES / "notify.yaml").read_text(encoding="utf-8")
PLAN_DAY = dt.date(2026, 3, 20)
SCALE = float(os.environ.get("COOP_FUZZ_SCALE", "1"))  # e.g. 20 for a deeper local run
DB_EXAMPLES = settings(
    max_examples=int(60 * SCALE), deadline=None, suppress_health_check=list(HealthCheck), database=None
)
PURE_EXAMPLES = settings(
    max_examples=int(300 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
RULE_EXAMPLES = settings(
    max_examples=int(120 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def load(raw: bytes | str) -> LoadedAgreement | None:
    """The loader's contract: a LoadedAgreement or an AgreementError that says where — nothing else."""
    try:
        return parse_agreement(raw, "fuzz.yaml")
    except AgreementError as exc:
        assert exc.problems and all(p.file == "fuzz.yaml" and p.message for p in exc.problems)
        return None


def _dump(tree: Any) -> str:
    out = io.StringIO()
    yaml = YAML(typ="safe")
    yaml.allow_unicode = True
    yaml.dump(tree, out)
    return out.getvalue()


def _plain(text: str) -> Any:
    return YAML(typ="safe").load(text)


# ------------------------------------------------------------------ agreement files


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.text(max_size=30),
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)),
)
KEYS = [
    "id",
    "title",
    "signed",
    "term",
    "start",
    "end",
    "parties",
    "name",
    "coordinator",
    "departments",
    "programmes",
    "clauses",
    "kind",
    "responsible",
    "party",
    "each_party",
    "recurrence",
    "rrule",
    "every",
    "day",
    "once",
    "deadline",
    "rotate",
    "lead",
    "targets",
    "evidence",
    "channels",
    "reminders",
    "before_workdays",
    "window_days",
    "adjust",
]
trees = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@PURE_EXAMPLES
@given(st.binary(max_size=3000))
def test_random_bytes(raw: bytes) -> None:
    load(raw)


@PURE_EXAMPLES
@given(st.text(max_size=3000))
def test_random_text(raw: str) -> None:
    load(raw)


@PURE_EXAMPLES
@given(trees)
def test_random_yaml_documents(tree: Any) -> None:
    load(_dump(tree))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated_agreements(draw: st.DrawFn) -> str:
    """A valid agreement with one to three random edits: replace a value, drop it, add an unknown key."""
    doc = _plain(NOTIFY)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(doc))[1:]))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add_key", "unknown_party"]))
        if action == "replace":
            parent[key] = draw(trees)
        elif action == "delete":
            del parent[key]
        elif action == "add_key" and isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(KEYS) | st.text(min_size=1, max_size=8))] = draw(scalars)
        elif action == "unknown_party" and isinstance(parent[key], str):
            parent[key] = draw(st.sampled_from(["渝中区", "", " ", "渝北区 ", "長寿区"]))
    return _dump(doc)


@PURE_EXAMPLES
@given(mutated_agreements())
def test_mutated_agreements(text: str) -> None:
    load(text)


# ------------------------------------------------------------------ recurrence

FREQS = ["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY", "FORTNIGHTLY", "daily"]
rule_parts = st.one_of(
    st.builds(lambda n: f"INTERVAL={n}", st.integers(-2, 10**6)),
    st.builds(lambda n: f"COUNT={n}", st.integers(-2, 10**6)),
    st.builds(lambda d: f"UNTIL={d:%Y%m%d}", st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(9999, 12, 31))),
    st.builds(lambda ms: "BYMONTH=" + ",".join(map(str, ms)), st.lists(st.integers(0, 13), min_size=1, max_size=3)),
    st.builds(
        lambda ds: "BYMONTHDAY=" + ",".join(map(str, ds)), st.lists(st.integers(-32, 32), min_size=1, max_size=3)
    ),
    st.builds(
        lambda ds: "BYDAY=" + ",".join(ds),
        st.lists(st.sampled_from(["MO", "TU", "FR", "SU", "1MO", "-1FR", "5TH", "XX"]), min_size=1, max_size=3),
    ),
    st.builds(lambda n: f"BYSETPOS={n}", st.integers(-4, 4)),
    st.builds(lambda n: f"BYWEEKNO={n}", st.integers(-54, 54)),
    st.builds(lambda n: f"BYYEARDAY={n}", st.integers(-367, 367)),
    st.builds(lambda n: f"BYHOUR={n}", st.integers(0, 25)),
    st.just("BYEASTER=0"),
    st.just("WKST=SU"),
)
rules = st.builds(
    lambda f, parts: ";".join([f"FREQ={f}", *parts]), st.sampled_from(FREQS), st.lists(rule_parts, max_size=4)
)
terms = st.builds(
    lambda start, days: (start, start + dt.timedelta(days=days)),
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2060, 1, 1)),
    st.integers(0, 366 * 20),
)


def _with_rule(rule: str, term: tuple[dt.date, dt.date]) -> str:
    """The notify fixture with clause 1.2's rule and the whole term replaced."""
    start, end = term
    text = NOTIFY.replace("FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=20", rule.replace('"', ""))
    return (
        text.replace("signed: 2026-01-05", f"signed: {start}")
        .replace("start: 2026-01-05", f"start: {start}")
        .replace("end: 2026-12-31", f"end: {end}")
    )


@RULE_EXAMPLES
@given(rules, terms)
def test_any_recurrence_loads_and_expands_to_a_bounded_plan_or_a_clear_error(
    rule: str, term: tuple[dt.date, dt.date]
) -> None:
    loaded = load(_with_rule(rule, term))
    if loaded is None:
        return
    try:
        planned = expand_checked(loaded, get_settings())
    except AgreementError as exc:
        assert "fuzz.yaml" in str(exc) and "clause 1." in str(exc)
        return
    assert 0 < len(planned) <= 5000 * 3 + 5000  # clause 1.1 plus each party's share of clause 1.2
    assert all(term[0] <= p.nominal_date <= term[1] for p in planned)


@RULE_EXAMPLES
@given(
    st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY"]),
    st.integers(1, 60),
    st.lists(rule_parts.filter(lambda p: not p.startswith(("BYEASTER", "BYHOUR", "COUNT=-", "INTERVAL"))), max_size=3),
    terms,
)
def test_dates_are_the_ones_dateutil_defines(
    freq: str, interval: int, parts: list[str], term: tuple[dt.date, dt.date]
) -> None:
    """Evaluating a rule 400-year cycles later (so an impossible rule gives up fast) changes no date."""
    rule = ";".join([f"FREQ={freq}", f"INTERVAL={interval}", *parts])
    if freq in ("WEEKLY", "DAILY"):
        # the reference below searches to the year 9999 when nothing matches; keep it to rules that can
        assume(not any(p.startswith(("BYMONTHDAY", "BYWEEKNO", "BYYEARDAY", "BYSETPOS")) for p in parts))
    start, end = term
    try:
        with warnings.catch_warnings():
            # dateutil deprecates COUNT with UNTIL ("future versions will raise an error"): a refusal too.
            warnings.simplefilter("error", DeprecationWarning)
            reference_rule = rrulestr(rule, dtstart=dt.datetime.combine(start, dt.time()))
    except (ValueError, DeprecationWarning):
        # dateutil itself refuses the rule: ours must refuse it too, with an error, not a wrong answer.
        with pytest.raises(ValueError):
            nominal_dates(Recurrence(rrule=rule), Term(start=start, end=end), limit=10_000)
        return
    ours = nominal_dates(Recurrence(rrule=rule), Term(start=start, end=end), limit=10_000)
    until = dt.datetime.combine(end, dt.time(23, 59, 59))
    reference = [m.date() for m in itertools.islice(itertools.takewhile(lambda m: m <= until, reference_rule), 10_001)]
    assert ours == reference


@pytest.mark.parametrize(
    ("label", "text", "expected"),
    [
        ("every second", _with_rule("FREQ=SECONDLY", (dt.date(2026, 1, 5), dt.date(2026, 12, 31))), "finer than a day"),
        (
            "every minute",
            _with_rule("FREQ=MINUTELY;INTERVAL=1440", (dt.date(2026, 1, 5), dt.date(2026, 12, 31))),
            "finer than a day",
        ),
        (
            "a hundred years",
            _with_rule("FREQ=DAILY", (dt.date(2026, 1, 5), dt.date(2125, 12, 31))),
            "term longer than 20 years",
        ),
        (
            "no interval",
            _with_rule("FREQ=DAILY;INTERVAL=0", (dt.date(2026, 1, 5), dt.date(2026, 12, 31))),
            "INTERVAL must be at least 1",
        ),
        ("not a rule", _with_rule("every day please", (dt.date(2026, 1, 5), dt.date(2026, 12, 31))), "is not an RRULE"),
        (
            "DTSTART smuggled in",
            _with_rule("DTSTART=19700101;FREQ=DAILY", (dt.date(2026, 1, 5), dt.date(2026, 12, 31))),
            "DTSTART",
        ),
        (
            "unknown party",
            NOTIFY.replace("responsible: {party: 渝北区}", "responsible: {party: 渝中区}"),
            "unknown party '渝中区'",
        ),
        (
            "unknown rotating party",
            NOTIFY.replace("rotate: [渝北区, 长寿区, 广安市]", "rotate: [渝北区, 火星]"),
            "unknown party '火星'",
        ),
        ("wrong type", NOTIFY.replace("window_days: 10", "window_days: ten"), "window_days"),
        ("list for a date", NOTIFY.replace("signed: 2026-01-05", "signed: [2026, 1, 5]"), "signed"),
        (
            "impossible date",
            NOTIFY.replace("signed: 2026-01-05", "signed: 2026-02-30"),
            "day is out of range for month",
        ),
        (
            "party name too long",
            NOTIFY.replace("  - name: 渝北区", "  - name: " + "渝" * 101),
            "at most 100 characters",
        ),
        (
            "absurd reminder",
            NOTIFY.replace("programmes:", "reminders: {before_workdays: [100000000]}\nprogrammes:", 1),
            "at most 250",
        ),
        ("escaped NUL", NOTIFY.replace("title: 联合培训", 'title: "联合\\0培训"'), "U+0000"),
        ("lone surrogate", NOTIFY.replace("title: 联合培训", 'title: "联合\\ud800培训"'), "U+D800"),
        ("escape code", NOTIFY.replace("title: 联合培训", 'title: "联合\\e[31m培训"'), "U+001B"),
        ("merge key", "<<: {id: 1.10, title: x}\nsigned: 2026-01-05\n", "is required but missing"),
        ("python tag", "!!python/object/apply:os.system ['true']\n", "must be a mapping"),
        (
            "duplicate key",
            NOTIFY.replace("title: 通知测试合作协议", "title: 通知测试合作协议\ntitle: again"),
            "YAML syntax",
        ),
        ("not UTF-8", NOTIFY.encode("gb18030"), "not UTF-8"),
        ("too big", "id: x\n" + "#" * MAX_FILE_BYTES, "the limit is"),
        ("deep nesting", "id: " + "[" * 200 + "]" * 200 + "\n", "nested deeper"),
        ("unclosed nesting", "id: " + "{a: " * 300, "YAML syntax"),
        ("cyclic alias", "id: &a [*a]\ntitle: &b {b: *b}\n", "title"),
        (
            "billion laughs",
            "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
            + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)),
            "more than 200000 values",
        ),
    ],
)
def test_known_nasty_files_get_a_clear_error(label: str, text: str | bytes, expected: str) -> None:
    with pytest.raises(AgreementError) as info:
        loaded = parse_agreement(text, "fuzz.yaml")
        expand_checked(loaded, get_settings())  # some absurdities only show when the dates are worked out
    assert expected in str(info.value), str(info.value)


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31",
        "FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=DAILY;COUNT=0",
    ],
)
def test_a_rule_that_never_matches_is_an_error_not_a_silently_empty_clause(rule: str) -> None:
    loaded = parse_agreement(_with_rule(rule, (dt.date(2026, 1, 5), dt.date(2045, 12, 31))), "fuzz.yaml")
    with pytest.raises(
        AgreementError, match=r"fuzz.yaml:\d+: clause 1.2: 'recurrence'（周期日程）在协议期 .* 内没有任何日期"
    ):
        expand_checked(loaded, get_settings())


# ------------------------------------------------------------------ through the database


def _plan_or_refuse(url: str, text: str) -> None:
    """What the plan-agreement flow does with a file, then the daily notice run: all or nothing.

    At most 300 dates per clause (the flow allows COOP_MAX_OCCURRENCES_PER_CLAUSE), so that re-planning
    one fuzzed agreement over another stays quick.
    """
    before = snapshot(url)
    try:
        loaded = parse_agreement(text, "fuzz.yaml")
        planned = expand(loaded, CAL, 300)
        check_unique_keys(planned, loaded)
        with session_scope(url) as s:
            apply_plan(s, loaded, planned, PLAN_DAY, "fuzzer", calendar_fingerprint(CAL))
    except AgreementError:
        assert snapshot(url) == before
        return
    with session_scope(url) as s:  # an agreement that planned must not break the notice run for everyone
        record_due_notices(s, PLAN_DAY, CAL)
        batch_notices(s, PLAN_DAY)
    assert verify_ledger(url).ok


@DB_EXAMPLES
@given(text=st.one_of(mutated_agreements(), st.builds(_with_rule, rules, terms)))
def test_planning_a_bad_file_writes_nothing(db_url: str, text: str) -> None:
    _plan_or_refuse(db_url, text)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize(
    "text",
    [
        _with_rule(
            "FREQ=DAILY", (dt.date(2026, 1, 5), dt.date(2045, 12, 31))
        ),  # 7 300 dates > COOP_MAX_OCCURRENCES_PER_CLAUSE
        _with_rule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", (dt.date(2026, 1, 5), dt.date(2030, 12, 31))),
        NOTIFY.replace("title: 联合培训", 'title: "联合\\0培训"'),
    ],
    ids=["daily-for-twenty-years", "thirtieth-of-february", "nul-in-a-title"],
)
def test_plan_flow_refuses_a_bad_file_and_writes_nothing(db_env: str, tmp_path: Path, text: str) -> None:
    from flows.plan_agreement import plan_agreement

    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    before = snapshot(db_env)
    state = plan_agreement(agreement=str(path), today=PLAN_DAY, return_state=True)
    assert state.is_failed()
    with pytest.raises(AgreementError):
        state.result()
    assert snapshot(db_env) == before


# ------------------------------------------------------------------ completion reports and metrics


@pytest.fixture
def planned(db_url: str) -> tuple[str, list[tuple[int, str]]]:
    loaded = parse_agreement(NOTIFY, "notify.yaml")
    with session_scope(db_url) as s:
        apply_plan(s, loaded, expand_checked(loaded, get_settings()), PLAN_DAY, "tester", calendar_fingerprint(CAL))
        owners = s.execute(
            sql(
                "SELECT o.id, a.name || '/' || d.name FROM occurrence o JOIN department d ON d.id = o.department_id"
                " JOIN agency a ON a.id = d.agency_id ORDER BY o.id"
            )
        ).all()
    return db_url, [(int(i), str(d)) for i, d in owners]


nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\ud800",
            "a\x00b",
            "渝北区/区委社会工作部\x00",
            "²",
            "١٢",
            "9" * 30,
            "-1",
            "0",
            "https://x.cn/\x00",
        ]
    ),
)


# Where integer columns and validators end: each side of every boundary.
EDGES = [-(2**63) - 1, -(2**63), -(2**31) - 1, -1, 0, 1, 10**8, 10**8 + 1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**70]
numbers = st.one_of(st.sampled_from(EDGES), st.integers(-(2**70), 2**70), st.integers(0, 200))


@st.composite
def reports(draw: st.DrawFn, owners: list[tuple[int, str]]) -> CompletionReport:
    oid, dept = draw(st.sampled_from(owners))
    return CompletionReport(
        occurrence_id=draw(st.one_of(st.just(oid), numbers)),
        department=draw(
            st.one_of(st.just(dept), st.sampled_from([d for _, d in owners]), nasty_text, numbers.map(str))
        ),
        outcome=draw(st.sampled_from(["done", "partial", "cannot", "DONE", "", "done\x00"])),  # type: ignore[arg-type]
        participants=draw(st.one_of(st.none(), numbers)),
        metrics=draw(
            st.dictionaries(
                st.one_of(st.sampled_from(["participants", "suggestions"]), nasty_text), numbers, max_size=3
            )
        ),
        evidence=draw(
            st.lists(
                st.one_of(st.just("https://example.cn/a.jpg"), nasty_text, st.just("sha256:" + "0" * 64)), max_size=3
            )
        ),
        note=draw(st.one_of(st.none(), nasty_text, st.just("x" * 2001))),
    )


@DB_EXAMPLES
@given(data=st.data())
def test_any_completion_report_is_recorded_or_refused_with_nothing_written(
    planned: tuple[str, list[tuple[int, str]]], data: st.DataObject
) -> None:
    url, owners = planned
    report = data.draw(reports(owners))
    before = snapshot(url)
    try:
        with session_scope(url) as s:
            record_completion(s, report, "fuzzer")
    except CoopError:
        assert snapshot(url) == before
    assert verify_ledger(url).ok


@PURE_EXAMPLES
@given(
    st.lists(
        st.one_of(st.text(max_size=20), st.builds(lambda n, v: f"{n}={v}", st.text(max_size=10), st.text(max_size=10))),
        max_size=4,
    )
)
def test_metric_options_parse_or_refuse_clearly(items: list[str]) -> None:
    try:
        metrics = _parse_metrics(items)
    except CoopError as exc:
        assert "name=整数" in str(exc)
        return
    assert all(isinstance(v, int) for v in metrics.values())


@pytest.mark.parametrize(
    "metric", ["participants=²", "participants=", "=5", "participants=1e3", "participants=--5", "participants=-", "x"]
)
def test_coop_done_with_a_bad_metric_says_so_without_a_traceback(db_env: str, metric: str) -> None:
    result = CliRunner().invoke(app, ["done", "1", "--department", "渝北区/区委社会工作部", "--metric", metric])
    assert result.exit_code == 2, result.output
    assert "指标应写作 name=整数" in result.output


def test_full_width_digits_are_a_number() -> None:
    assert _parse_metrics(["participants=１２", "suggestions=-3"]) == {"participants": 12, "suggestions": -3}
