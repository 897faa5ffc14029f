"""Render digests as Chinese markdown messages; grouping is decided here, wording lives in `coop/templates`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from coop.notify.digest import Digest, DigestItem

WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
PROVISIONAL_NOTE = "暂定，节假日安排待国务院公布"
TARGET_LABELS = {
    "participants": "参与人数",
    "attendees": "参会人数",
    "enterprises": "企业数",
    "projects": "项目数",
    "events": "活动场次",
    "sessions": "场次",
    "students": "学生人数",
    "visits": "走访次数",
}
_REMINDER_RE = re.compile(r"^reminder_t(\d+)$")
_PLAN_SECTIONS = {"planned": ("新任务", 80), "changed": ("任务变更", 81), "cancelled": ("任务取消", 82)}
_SHELL_SAFE = re.compile(r"^[^\s'\"`$\\;&|<>(){}*?!#~]+$")


def cn_date(d: date) -> str:
    """2025年3月7日（星期五）."""
    return f"{d.year}年{d.month}月{d.day}日（{WEEKDAYS[d.weekday()]}）"


def cn_short_date(d: date) -> str:
    """3月7日（星期五）."""
    return f"{d.month}月{d.day}日（{WEEKDAYS[d.weekday()]}）"


def clause_ref(clause_id: str) -> str:
    """`2.1` → 第2.1条; identifiers that are not numbers are shown as 条款 X."""
    clause_id = clause_id.strip()
    if clause_id.startswith("第"):
        return clause_id
    if re.fullmatch(r"\d+(?:\.\d+)*", clause_id):
        return f"第{clause_id}条"
    return f"条款{clause_id}"


def target_text(targets: dict[str, int]) -> str:
    """{'participants': 30} → 参与人数不少于30."""
    return "；".join(f"{TARGET_LABELS.get(k, k)}不少于{v}" for k, v in targets.items())


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
    n = item.workdays_left
    if n is None:
        match = _REMINDER_RE.match(item.notice)
        n = int(match.group(1)) if match else 0
    if n <= 1:
        return ("明日到期", 20) if item.due_date - today == timedelta(days=1) else ("下一个工作日到期", 20)
    return f"{n}个工作日后到期", 20 + n


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
    """Text/markdown templates: no HTML autoescape, undefined names fail loudly."""
    env = Environment(
        loader=PackageLoader("coop", "templates"),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
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
        return f"【逾期督办】{digest.department}：{len(escalations)}项任务逾期未办结{also}（{day}）"
    summary = "、".join(f"{s.label}{len(s.items)}项" for s in groups[:3])
    more = "等" if len(groups) > 3 else ""
    return f"【协作通】{digest.department}任务提醒：{summary}{more}（{day}）"


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
