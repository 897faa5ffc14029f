"""Render digests as Chinese markdown messages; grouping is decided here, wording lives in `coop/templates`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from coop.labels import metric_label
from coop.markup import message_text
from coop.notify.digest import Digest, DigestItem

WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
PROVISIONAL_NOTE = "暂定，节假日安排待国务院公布"
_REMINDER_RE = re.compile(r"^reminder_t(\d+)$")
_PLAN_SECTIONS = {"planned": ("新任务", 80), "changed": ("任务变更", 81), "cancelled": ("任务取消", 82)}
_SHELL_SAFE = re.compile(r"^[^\s'\"`$\\;&|<>(){}*?!#~]+$")


@lru_cache(maxsize=4096)
def cn_date(d: date) -> str:
    """2025年3月7日（星期五）. Cached, as `clause_ref`: a province's daily digests show ~54,000 items over a few
    hundred distinct dates and clauses (profiled in bench/)."""
    return f"{d.year}年{d.month}月{d.day}日（{WEEKDAYS[d.weekday()]}）"


def cn_short_date(d: date) -> str:
    """3月7日（星期五）."""
    return f"{d.month}月{d.day}日（{WEEKDAYS[d.weekday()]}）"


@lru_cache(maxsize=4096)
def clause_ref(clause_id: str) -> str:
    """`2.1` → 第2.1条; identifiers that are not numbers are shown as 条款 X."""
    clause_id = clause_id.strip()
    if clause_id.startswith("第"):
        return clause_id
    if re.fullmatch(r"\d+(?:\.\d+)*", clause_id):
        return f"第{clause_id}条"
    return f"条款{clause_id}"


def target_text(targets: dict[str, int], labels: dict[str, str] | None = None) -> str:
    """{'participants': 30} → 参与人数不少于30; `labels`: the agreement's own metric names. A 0 is a term target's
    metric with no per-occurrence quota (see `Clause.occurrence_targets`), not shown."""
    return "；".join(f"{metric_label(k, labels)}不少于{v}" for k, v in targets.items() if v)


OPERATION_VERBS = {
    "occurrence_extended": "延期",
    "occurrence_suspended": "暂停",
    "occurrence_resumed": "恢复",
    "occurrence_reopened": "重新打开",
    "occurrence_reassigned": "改派",
    "occurrence_waived": "豁免",
    "occurrence_cancelled": "取消",
}


def operation_line(kind: str, actor: str, payload: dict[str, Any]) -> str:
    """A coordinator's decision as a department reads it: what changed, why, and who decided.

    E.g. `延期至 2026-05-08（原截止 2026-04-30；原因：场地改造；协调人：张协调）`.
    """
    before, after = payload.get("before") or {}, payload.get("after") or {}
    if kind == "occurrence_extended":
        what = f"延期至 {after.get('due_date')}（原截止 {before.get('due_date')}；"
    elif kind == "occurrence_suspended":
        what = "暂停办理，暂停期间不计逾期、不督办（"
    elif kind == "occurrence_resumed":
        what = f"恢复办理，截止日期为 {after.get('due_date')}（"
    elif kind == "occurrence_reopened":
        what = "重新打开，请按要求补充办理（"
    elif kind == "occurrence_reassigned":
        old, new = str(before.get("department", "")), str(after.get("department", ""))
        what = f"改派：由 {old.replace('/', '')} 改由 {new.replace('/', '')} 负责（"
    else:
        what = f"{OPERATION_VERBS.get(kind, kind)}（"
    person = actor.split("（", 1)[0] or actor
    return f"{what}原因：{payload.get('reason', '')}；协调人：{person}）"


def done_command(item: DigestItem, department: str) -> str:
    """The CLI line a department can run to report completion."""
    dept = department if _SHELL_SAFE.match(department) else "'" + department.replace("'", "'\\''") + "'"
    return f"coop done {item.occurrence_id} --department {dept}"


@dataclass(frozen=True)
class Section:
    """One heading of a digest and the items under it, in display order."""

    label: str
    rank: int
    items: list[DigestItem]


def section_of(item: DigestItem, today: date) -> tuple[str, int]:
    """Heading and sort rank for an item: overdue first, then by urgency, plan changes last.

    Uses the dates, not only the notice kind, so a reminder sent late by a missed run is
    still headed truthfully.
    """
    if item.notice in _PLAN_SECTIONS:
        return _PLAN_SECTIONS[item.notice]
    if item.days_overdue > 0 or item.notice == "escalation" or item.due_date < today:
        n = max(item.days_overdue, 1)
        return f"已逾期{n}个工作日", -n
    if item.due_date == today:
        return "今日到期", 10
    left = item.workdays_left
    if left is None:
        match = _REMINDER_RE.match(item.notice)
        left = int(match.group(1)) if match else 0
    if left <= 1:
        return ("明日到期", 20) if item.due_date - today == timedelta(days=1) else ("下一个工作日到期", 20)
    return f"{left}个工作日后到期", 20 + left


def sections(items: Iterable[DigestItem], today: date) -> list[Section]:
    """Group items under their headings, most urgent heading first."""
    groups: dict[str, tuple[int, list[DigestItem]]] = {}
    for item in items:
        label, rank = section_of(item, today)
        groups.setdefault(label, (rank, []))[1].append(item)
    return [
        Section(label, rank, sorted(found, key=lambda i: (i.due_date, i.occurrence_id)))
        for label, (rank, found) in sorted(groups.items(), key=lambda kv: kv[1][0])
    ]


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Markdown message templates: every `{{ … }}` goes through `message_text` (agreement and report text never
    becomes a link, image, tag or mention in any channel); undefined names fail loudly."""
    env = Environment(
        loader=PackageLoader("coop", "templates"),
        autoescape=False,
        finalize=message_text,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # shipped files: no stat() per `{% include %}` (one per digest item, profiled in bench/)
    )
    env.filters.update(cn_date=cn_date, cn_short_date=cn_short_date, clause_ref=clause_ref, target_text=target_text)
    env.globals.update(PROVISIONAL_NOTE=PROVISIONAL_NOTE, done_command=done_command)
    return env


def _subject(digest: Digest, groups: list[Section]) -> str:
    """Escalations get their own prefix so a leader's mail filter and eye catch them."""
    day = f"{digest.generated_on.month}月{digest.generated_on.day}日"
    escalations = [i for i in digest.items if i.notice == "escalation"]
    if escalations:
        others = len(digest.items) - len(escalations)
        also = f"，另有{others}项任务提醒" if others else ""
        return f"【逾期督办】{message_text(digest.department)}：{len(escalations)}项任务逾期未办结{also}（{day}）"
    summary = "、".join(f"{s.label}{len(s.items)}项" for s in groups[:3])
    more = "等" if len(groups) > 3 else ""
    return f"【协作通】{message_text(digest.department)}任务提醒：{summary}{more}（{day}）"


def render_lead_summary(
    department: str, agreement_title: str, overdue_by_party: dict[str, int], today: date
) -> tuple[str, str]:
    """The lead party's coordinator hears how many tasks of other parties escalated, per party — never the tasks.

    Each party's own leader and coordinator already got its list; the lead coordinator only follows up.
    """
    total = sum(overdue_by_party.values())
    day = f"{today.month}月{today.day}日"
    department, agreement_title = message_text(department), message_text(agreement_title)
    subject = f"【督办汇总】{department}：《{agreement_title}》{total}项其他单位任务逾期（{day}）"
    lines = [
        f"# 《{agreement_title}》逾期督办汇总（{cn_date(today)}）",
        "",
        f"{department}：贵方为牵头方的条款中，下列单位有任务逾期未办结，已分别督办其分管领导和牵头联络部门。",
        "",
        *_overdue_lines(overdue_by_party),
        "",
        LEAD_SUMMARY_CLOSING,
    ]
    return subject, "\n".join(lines) + "\n"


LEAD_SUMMARY_CLOSING = "具体任务由各单位自行查看，本汇总不列出其他单位的任务清单。"


def _overdue_lines(overdue_by_party: dict[str, int]) -> list[str]:
    """One line per other party: how many of its tasks escalated (a lead summary's body)."""
    return [f"- {message_text(party)}：{count}项" for party, count in sorted(overdue_by_party.items())]


def render_lead_summaries(
    department: str, overdue_by_agreement: dict[str, dict[str, int]], today: date
) -> tuple[str, str]:
    """`render_lead_summary` for a coordinator leading several agreements: one message a day, a section per
    agreement (issue 16: one destination gets one clear message, not one per agreement). One agreement: exactly
    the single summary."""
    if len(overdue_by_agreement) == 1:
        [(title, by_party)] = overdue_by_agreement.items()
        return render_lead_summary(department, title, by_party, today)
    total = sum(sum(by_party.values()) for by_party in overdue_by_agreement.values())
    day = f"{today.month}月{today.day}日"
    department = message_text(department)
    count = len(overdue_by_agreement)
    subject = f"【督办汇总】{department}：{count}份协议中{total}项其他单位任务逾期（{day}）"
    lines = [
        f"# 逾期督办汇总（{cn_date(today)}）",
        "",
        f"{department}：贵方为牵头方的{count}份协议中，下列单位有任务逾期未办结，已分别督办其分管领导和牵头联络部门。",
    ]
    for title, by_party in sorted(overdue_by_agreement.items()):
        lines += ["", f"## 《{message_text(title)}》", "", *_overdue_lines(by_party)]
    lines += ["", LEAD_SUMMARY_CLOSING]
    return subject, "\n".join(lines) + "\n"


def render_digest(digest: Digest) -> tuple[str, str]:
    """One message for one recipient covering all of its items: (subject, markdown body)."""
    groups = sections(digest.items, digest.generated_on)
    body = (
        environment()
        .get_template("digest.md.j2")
        .render(
            digest=digest,
            sections=groups,
            escalation=any(i.notice == "escalation" for i in digest.items),
            overdue=sum(1 for i in digest.items if section_of(i, digest.generated_on)[1] < 0),
        )
    )
    return _subject(digest, groups), _tidy(body)


@dataclass(frozen=True)
class ClauseCount:
    """One clause's share of a summarised digest."""

    agreement_title: str
    clause_id: str
    clause_title: str
    count: int
    overdue: int


def render_digest_summary(
    digest: Digest, first: int = 10, clauses: int = 15, list_url: str | None = None
) -> tuple[str, str]:
    """A digest too long for a group robot, as a summary: counts by clause, the `first` most urgent items,
    and a link to the full list. Same subject as `render_digest`."""
    today = digest.generated_on
    groups = sections(digest.items, today)
    counts: dict[tuple[str, str, str], list[int]] = {}
    for item in digest.items:
        row = counts.setdefault((item.agreement_title, item.clause_id, item.clause_title), [0, 0])
        row[0] += 1
        row[1] += section_of(item, today)[1] < 0
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
    shown = [ClauseCount(a, c, t, n, o) for (a, c, t), (n, o) in ranked[:clauses]]
    hidden = ranked[clauses:]
    body = (
        environment()
        .get_template("digest_summary.md.j2")
        .render(
            digest=digest,
            clauses=shown,
            more_clauses=len(hidden),
            more_clause_items=sum(n for _, (n, _) in hidden),
            first=[item for section in groups for item in section.items][:first],
            overdue=sum(1 for i in digest.items if section_of(i, today)[1] < 0),
            list_url=list_url,
        )
    )
    return _subject(digest, groups), _tidy(body)


def render_weekly(digest: Digest, horizon_days: int = 14) -> tuple[str, str]:
    """A department's week ahead: overdue items, then everything due within `horizon_days`."""
    today = digest.generated_on
    span = "两周" if horizon_days == 14 else f"{horizon_days}天"
    overdue = sorted(
        (i for i in digest.items if i.notice != "cancelled" and (i.days_overdue > 0 or i.due_date < today)),
        key=lambda i: (-i.days_overdue, i.due_date, i.occurrence_id),
    )
    horizon = today + timedelta(days=horizon_days)
    upcoming = sorted(
        (i for i in digest.items if i.notice != "cancelled" and i not in overdue and today <= i.due_date < horizon),
        key=lambda i: (i.due_date, i.occurrence_id),
    )
    next_monday = today + timedelta(days=7 - today.weekday())
    weeks = [
        ("本周", [i for i in upcoming if i.due_date < next_monday]),
        ("下周", [i for i in upcoming if next_monday <= i.due_date < next_monday + timedelta(days=7)]),
        ("之后", [i for i in upcoming if i.due_date >= next_monday + timedelta(days=7)]),
    ]
    body = (
        environment()
        .get_template("weekly.md.j2")
        .render(
            digest=digest,
            overdue=overdue,
            weeks=[(label, items) for label, items in weeks if items],
            horizon=horizon - timedelta(days=1),
            span=span,
        )
    )
    subject = (
        f"【协作通周报】{digest.department}：未来{span}{len(upcoming)}项任务"
        + (f"，逾期{len(overdue)}项" if overdue else "")
        + f"（{today.month}月{today.day}日）"
    )
    return subject, _tidy(body)


def _tidy(body: str) -> str:
    """Collapse runs of blank lines that template conditionals leave behind."""
    return re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
