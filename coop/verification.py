"""What the ledger says the tables must hold, and how a verification reads to a person.

`Replay` reads ledger events in id order and keeps, per occurrence, the status, completion moment, due date and
department the events imply, and per report event the report row it must have written. `compare_*` hold the
stored rows against that and name each difference in Chinese (`任务 #12：台账显示 已逾期，表中为 已完成`).
`check_checkpoints` says from which event on the chain no longer matches what a key holder signed. Pure.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from coop.checkpoint import Checkpoint
from coop.labels import status_label

SHANGHAI = ZoneInfo("Asia/Shanghai")
REPORT_KINDS: dict[str, str] = {
    "occurrence_done": "done",
    "occurrence_progress": "partial",
    "occurrence_cannot_do": "cannot",
}
CLOSING: dict[str, str] = {
    "occurrence_waived": "waived",
    "occurrence_cancelled": "cancelled",
    "occurrence_untracked": "untracked",
    "occurrence_suspended": "suspended",
}
# A report row's `at` is taken a moment before its event's; more than this apart is a change.
CLOCK_SLACK = dt.timedelta(minutes=2)
MAX_SHOWN = 200


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _noon(day: str) -> dt.datetime:
    """A backfilled completion is stored at noon in Beijing on its day (coop.services.backfill)."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12), SHANGHAI).astimezone(dt.UTC)


@dataclass(slots=True)  # one per occurrence: a million of them must stay small
class OccurrenceFacts:
    """One occurrence as the ledger left it; `None` = the ledger does not say (e.g. the due date a plan created)."""

    status: str = "planned"
    done_at: dt.datetime | None = None
    due_date: dt.date | None = None
    department_id: int | None = None
    extended: bool = False
    reassigned: bool = False
    opened: bool = False  # opened by hand (an on-demand clause), not created by a plan


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """The report row a report event wrote."""

    event_id: int
    occurrence_id: int | None
    outcome: str
    participants: int | None
    metrics: dict[str, int]
    evidence: list[str]
    note: str | None
    department_id: int | None
    at: dt.datetime


@dataclass
class Replay:
    """Consumes ledger events (objects with the LedgerEvent columns) in id order."""

    occurrences: dict[int, OccurrenceFacts] = field(default_factory=dict)
    reports: dict[int, ReportFacts] = field(default_factory=dict)
    created: Counter[str] = field(default_factory=Counter)
    tracking_from: dict[str, dt.date | None] = field(default_factory=dict)
    hashes: dict[int, str] = field(default_factory=dict)
    wanted: frozenset[int] = frozenset()  # event ids whose hash a checkpoint signed
    last_id: int = 0

    def feed(self, rows: Iterable[Any]) -> None:
        for row in rows:
            self.last_id = max(self.last_id, row.id)
            if row.id in self.wanted:
                self.hashes[row.id] = row.hash
            try:
                payload = json.loads(row.payload)
            except ValueError:
                continue  # the chain check names an event whose content was altered
            if isinstance(payload, dict):
                self._apply(row, payload)

    def _facts(self, oid: int | None) -> OccurrenceFacts | None:
        if oid is None:
            return None
        return self.occurrences.setdefault(oid, OccurrenceFacts())

    def _apply(self, row: Any, p: dict[str, Any]) -> None:
        kind, at = row.kind, _aware(row.at)
        if kind == "agreement_planned" and row.agreement_id:
            self.created[row.agreement_id] += int(p.get("created") or 0)
            tracking = p.get("tracking_from")
            self.tracking_from[row.agreement_id] = dt.date.fromisoformat(tracking) if tracking else None
            return
        if kind in ("sweep_due", "sweep_overdue"):
            status = "due" if kind == "sweep_due" else "overdue"
            for oid in p.get("occurrence_ids") or []:
                facts = self._facts(int(oid))
                assert facts is not None
                facts.status = status
            return
        facts = self._facts(row.occurrence_id)
        if facts is None:
            return
        after: dict[str, Any] = p["after"] if isinstance(p.get("after"), dict) else {}
        if kind in REPORT_KINDS:
            backfill = bool(p.get("backfill")) and bool(p.get("completed_on"))
            moment = _noon(p["completed_on"]) if backfill else at
            self.reports[row.id] = ReportFacts(
                row.id,
                row.occurrence_id,
                REPORT_KINDS[kind],
                p.get("participants"),
                dict(p.get("metrics") or {}),
                list(p.get("evidence") or []),
                p.get("note"),
                p.get("department_id"),
                moment,
            )
            if p.get("due_date"):
                facts.due_date = dt.date.fromisoformat(p["due_date"])
            if p.get("department_id") is not None:
                facts.department_id = int(p["department_id"])
            if kind == "occurrence_done":
                facts.status, facts.done_at = "done", moment
        elif kind in CLOSING:
            facts.status = CLOSING[kind]
        elif kind == "occurrence_tracked":
            facts.status = "planned"
        elif kind in ("occurrence_replanned", "occurrence_restored"):
            due = after.get("due_date")
            if facts.status != "suspended":
                tracking = self.tracking_from.get(row.agreement_id)
                early = tracking is not None and due is not None and dt.date.fromisoformat(due) < tracking
                facts.status = "untracked" if early else "planned"
            if due and not facts.extended:  # an extension stands: the plan's date goes to planned_due_date
                facts.due_date = dt.date.fromisoformat(due)
            if not facts.reassigned:  # the plan names the department by name, not id: not checked from here on
                facts.department_id = None
            facts.done_at = None
        elif kind in ("occurrence_extended", "occurrence_resumed", "occurrence_reopened"):
            if after.get("status"):
                facts.status = str(after["status"])
            due = after.get("due_date")
            before: dict[str, Any] = p["before"] if isinstance(p.get("before"), dict) else {}
            if due:
                facts.extended = facts.extended or kind == "occurrence_extended" or due != before.get("due_date")
                facts.due_date = dt.date.fromisoformat(due)
            if kind == "occurrence_reopened":
                facts.done_at = None
        elif kind == "occurrence_opened":
            facts.opened, facts.status = True, str(p.get("status") or "due")
            if p.get("due_date"):
                facts.due_date = dt.date.fromisoformat(p["due_date"])
            if p.get("department_id") is not None:
                facts.department_id = int(p["department_id"])
        elif kind == "occurrence_reassigned" and after.get("department_id") is not None:
            facts.department_id, facts.reassigned = int(after["department_id"]), True


@dataclass
class Differences:
    """Tables against the ledger: the first MAX_SHOWN differences, and how many there were."""

    shown: list[str] = field(default_factory=list)
    count: int = 0
    occurrences: int = 0
    reports: int = 0

    def add(self, text: str) -> None:
        self.count += 1
        if len(self.shown) < MAX_SHOWN:
            self.shown.append(text)


def _near(stored: dt.datetime | None, expected: dt.datetime) -> bool:
    return stored is not None and abs(_aware(stored) - expected) <= CLOCK_SLACK


def _day(moment: dt.datetime, tz: dt.tzinfo) -> dt.date:
    return _aware(moment).astimezone(tz).date()


def compare_occurrence(
    facts: OccurrenceFacts | None, row: Any, rank: int, created: int, out: Differences, tz: dt.tzinfo = SHANGHAI
) -> None:
    """One stored occurrence (id, agreement_id, status, due_date, department_id, closed_at) against the ledger."""
    out.occurrences += 1
    oid = row.id
    if rank > created and not (facts is not None and facts.opened):
        out.add(f"任务 #{oid}：台账中没有创建它的计划记录（协议 {row.agreement_id} 的计划共创建 {created} 项）")
        return
    facts = facts or OccurrenceFacts()
    stored = str(row.status)
    if facts.status != stored:
        out.add(f"任务 #{oid}：台账显示 {status_label(facts.status)}，表中为 {status_label(stored)}")
    elif stored == "done" and facts.done_at is not None and not _near(row.closed_at, facts.done_at):
        shown = "无" if row.closed_at is None else str(_day(row.closed_at, tz))
        out.add(f"任务 #{oid}：台账显示 完成于 {_day(facts.done_at, tz)}，表中为 {shown}")
    if facts.due_date is not None and facts.due_date != row.due_date:
        out.add(f"任务 #{oid}：台账显示 截止日期 {facts.due_date}，表中为 {row.due_date}")
    if facts.department_id is not None and facts.department_id != row.department_id:
        out.add(f"任务 #{oid}：台账显示 责任部门 #{facts.department_id}，表中为 #{row.department_id}")


REPORT_FIELDS: dict[str, str] = {
    "occurrence_id": "任务",
    "outcome": "结果",
    "participants": "参与人数",
    "metrics": "指标",
    "evidence": "佐证",
    "note": "说明",
    "department_id": "报告部门",
}


def compare_report(facts: ReportFacts | None, row: Any, out: Differences) -> None:
    """One stored report row against the report event it names (`event_id`)."""
    out.reports += 1
    if facts is None:
        out.add(f"报告 #{row.id}（任务 #{row.occurrence_id}）：台账中没有对应的报告事件 #{row.event_id}")
        return
    for name, label in REPORT_FIELDS.items():
        want, have = getattr(facts, name), getattr(row, name)
        if name == "metrics":
            want, have = dict(want or {}), dict(have or {})
        elif name == "evidence":
            want, have = list(want or []), list(have or [])
        if want != have:
            out.add(f"报告 #{row.id}（事件 #{facts.event_id}）：台账显示 {label} {_shown(want)}，表中为 {_shown(have)}")
    if not _near(row.at, facts.at):
        when = f"{facts.at:%Y-%m-%d %H:%M}，表中为 {_aware(row.at):%Y-%m-%d %H:%M}"
        out.add(f"报告 #{row.id}（事件 #{facts.event_id}）：台账显示 时间 {when}")


def missing_reports(facts: Iterable[ReportFacts], seen: set[int], out: Differences) -> None:
    for report in facts:
        if report.event_id not in seen:
            out.add(f"报告（事件 #{report.event_id}，任务 #{report.occurrence_id}）：台账中有，表中缺失")


def missing_occurrences(facts: dict[int, OccurrenceFacts], seen: set[int], out: Differences) -> None:
    for oid in sorted(set(facts) - seen):
        out.add(f"任务 #{oid}：台账中有记录，表中不存在")


def _shown(value: Any) -> str:
    if value is None:
        return "无"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


# ---------------------------------------------------------------- checkpoints


@dataclass
class CheckpointCheck:
    """Every checkpoint found (file and table), checked against the chain and the public key."""

    checked: int = 0
    valid: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    untrusted_from: int | None = None
    last_matching: int | None = None


@dataclass(frozen=True)
class Found:
    """A checkpoint and where it was found ("文件" / "表")."""

    checkpoint: Checkpoint
    places: tuple[str, ...]
    signed: bool | None  # None: no public key to check with


def check_checkpoints(found: Sequence[Found], hashes: dict[int, str], last_id: int, key_known: bool) -> CheckpointCheck:
    """Each signed head against the chain as stored now; history after the last checkpoint that still matches,
    up to the first that does not, can no longer be trusted."""
    out = CheckpointCheck(checked=len(found))
    mismatched: list[int] = []
    matching: list[int] = []
    for item in sorted(found, key=lambda f: (f.checkpoint.event_id, f.checkpoint.at)):
        cp = item.checkpoint
        where = "、".join(item.places)
        name = f"检查点（事件 #{cp.event_id}，{cp.at[:19]}，见于{where}）"
        if item.signed is False:
            out.problems.append(f"{name}：签名无效（被改动或伪造，或由另一把密钥 {cp.key_id} 签署）")
            continue
        if item.signed:
            out.valid += 1
        if cp.event_id > last_id:
            out.problems.append(f"{name}：台账现只到事件 #{last_id}，签名时已有的事件 #{last_id + 1} 起被删除")
            mismatched.append(cp.event_id)
        elif hashes.get(cp.event_id) != cp.hash:
            out.problems.append(f"{name}：事件 #{cp.event_id} 的哈希与签名时不同，此前的历史被改写")
            mismatched.append(cp.event_id)
        else:
            matching.append(cp.event_id)
    if mismatched:
        first_bad = min(mismatched)
        before = [m for m in matching if m < first_bad]
        out.last_matching = max(before) if before else None
        out.untrusted_from = (out.last_matching or 0) + 1
        if out.untrusted_from > last_id:
            out.untrusted_from = last_id + 1
    elif matching:
        out.last_matching = max(matching)
        if out.last_matching < last_id:
            out.notes.append(f"事件 #{out.last_matching + 1}–#{last_id} 尚无签名检查点覆盖")
    if not key_known and found:
        out.notes.append("未配置台账公钥（COOP_LEDGER_PUBLIC_KEY_FILE 或 COOP_LEDGER_KEY_FILE），检查点签名未核对")
    return out


# ---------------------------------------------------------------- the whole answer


@dataclass
class LedgerAudit:
    """`coop audit verify`: the chain, the head, the tables against the ledger, the signed checkpoints."""

    events: int
    head_id: int
    head_hash: str
    head_matches: bool
    first_break: Any  # coop.ledger.ChainBreak | None
    differences: Differences
    checkpoints: CheckpointCheck
    tables_checked: bool = True

    @property
    def chain_ok(self) -> bool:
        return self.first_break is None and self.head_matches

    @property
    def untrusted_from(self) -> int | None:
        """The first event from which history can no longer be trusted, or None."""
        candidates = [self.checkpoints.untrusted_from]
        if self.first_break is not None:
            candidates.append(self.first_break.event_id)
        elif not self.head_matches:
            candidates.append(self.events or 1)
        known = [c for c in candidates if c is not None]
        return min(known) if known else None

    @property
    def ok(self) -> bool:
        return self.chain_ok and self.differences.count == 0 and not self.checkpoints.problems

    def lines(self) -> list[str]:
        """The verdict in Chinese, one statement per line (CLI, report artifact)."""
        out: list[str] = []
        if self.chain_ok and self.checkpoints.untrusted_from is not None:
            out.append(f"✗ 台账被改写：{self.events} 条事件的哈希链自洽，但与签名检查点不符（哈希被重新计算过）")
        elif self.chain_ok:
            out.append(f"✓ 台账完整：{self.events} 条事件，哈希链校验通过")
        else:
            brk = self.first_break
            where = f"事件 #{brk.event_id}：{brk.reason}" if brk else "台账头记录与链尾不一致"
            out.append(f"✗ 台账被改动：{where}")
        out.append(f"台账头：事件 #{self.head_id} · {self.head_hash}")
        cps = self.checkpoints
        if cps.checked:
            out.append(f"签名检查点：{cps.checked} 个，签名有效 {cps.valid} 个")
        else:
            out.append("签名检查点：无（运行 coop audit checkpoint 签署当前台账头）")
        out += [f"✗ {p}" for p in cps.problems]
        out += [f"· {n}" for n in cps.notes]
        if self.untrusted_from is not None:
            out.append(f"✗ 自事件 #{self.untrusted_from} 起的历史不再可信")
        diff = self.differences
        if not self.tables_checked:
            return out
        if diff.count == 0:
            out.append(f"✓ 表与台账一致：{diff.occurrences} 项任务、{diff.reports} 份报告")
        else:
            out.append(f"✗ 表与台账不一致：{diff.count} 处")
            out += [f"  {d}" for d in diff.shown]
            if diff.count > len(diff.shown):
                out.append(f"  ……另有 {diff.count - len(diff.shown)} 处未列出")
            out.append("✗ 完成率、按时率（coop audit rates）依据的表已与台账不符：查明上述差异之前，统计结果不可信")
        return out
