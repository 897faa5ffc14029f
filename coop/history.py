"""A ledger event told as one Chinese sentence: when, who, what was done and what evidence it cites.

`coop audit history` and the auditors' dashboard show these instead of the raw payload; the payload and the hash stay
in the ledger (and behind `--hash` / `--raw`). Every event kind the ledger writes has its own sentence; an unknown kind
falls back to its label, so a new kind never breaks a history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from coop.labels import event_label, metric_label, outcome_label, status_label


class LedgerEntry(Protocol):
    """What a sentence needs of an event (`models.read.HistoryEventPublic` has it)."""

    @property
    def at(self) -> dt.datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def evidence(self) -> list[str]: ...


Labels = Mapping[str, str]
ROLE_NAMES = {"coordinator": "具名协调人", "department": "部门", "auditor": "审计"}


def event_sentence(event: LedgerEntry, tz: dt.tzinfo, labels: Labels | None = None) -> str:
    """`2026-03-02 09:14 南岸区/民政局 提交完成报告：已完成，参与人数 35，证据 2 份` (time in `tz`)."""
    return f"{local_time(event.at, tz)} {event.actor} {event_text(event.kind, event.payload, event.evidence, labels)}"


def local_time(moment: dt.datetime, tz: dt.tzinfo) -> str:
    """A stored moment (naive = UTC, as SQLite returns it) on the deployment's clock, to the minute."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return f"{aware.astimezone(tz):%Y-%m-%d %H:%M}"


def event_text(kind: str, payload: Mapping[str, Any], evidence: list[str], labels: Labels | None = None) -> str:
    """What an event did, without when and who; evidence is counted at the end."""
    tell = _TELLERS.get(kind)
    text = tell(payload, labels or {}) if tell else event_label(kind)
    if evidence:
        text += f"，证据 {len(evidence)} 份"
    return text


def _reason(payload: Mapping[str, Any]) -> str:
    reason = payload.get("reason")
    return f"，理由：{reason}" if reason else ""


def _amendment(payload: Mapping[str, Any]) -> str:
    parts = []
    if payload.get("amendment"):
        parts.append(f"依据补充协议 {payload['amendment']}")
    if payload.get("effective_from"):
        parts.append(f"自 {payload['effective_from']} 起生效")
    return f"（{'，'.join(parts)}）" if parts else ""


def _version(payload: Mapping[str, Any]) -> str:
    return f"第 {payload['version']} 版" if payload.get("version") is not None else ""


def _moved(payload: Mapping[str, Any]) -> str:
    """The fields a re-plan or restore changed: due date, responsible department, host."""
    before = payload.get("before") or {}
    after = payload.get("after") or {}
    changes = []
    if before.get("due_date") != after.get("due_date"):
        changes.append(f"截止日期 {before.get('due_date') or '—'} → {after.get('due_date') or '—'}")
    owner_before = f"{before.get('party') or ''}/{before.get('department') or ''}"
    owner_after = f"{after.get('party') or ''}/{after.get('department') or ''}"
    if owner_before != owner_after:
        changes.append(f"责任部门 {owner_before} → {owner_after}")
    if before.get("host") != after.get("host"):
        changes.append(f"承办方 {before.get('host') or '—'} → {after.get('host') or '—'}")
    return "；".join(changes)


def _figures(payload: Mapping[str, Any], labels: Labels) -> list[str]:
    """参与人数 35、培训场次 2: participants once (they are also a metric when the clause targets them)."""
    metrics = payload.get("metrics") or {}
    shown = []
    participants = payload.get("participants")
    if participants is not None and "participants" not in metrics:
        shown.append(f"{metric_label('participants', labels)} {participants}")
    shown += [f"{metric_label(str(name), labels)} {value}" for name, value in sorted(metrics.items())]
    return shown


def _report(payload: Mapping[str, Any], labels: Labels) -> str:
    """The body of a report: outcome, figures, note, and whether it was on time."""
    parts = [outcome_label(str(payload.get("outcome") or "done")), *_figures(payload, labels)]
    if payload.get("note"):
        parts.append(f"说明：{payload['note']}")
    if payload.get("outcome") == "done" and payload.get("on_time") is not None:
        parts.append("按时完成" if payload["on_time"] else f"晚于截止日期 {payload.get('due_date') or ''}".rstrip())
    return "，".join(parts)


def _part(payload: Mapping[str, Any]) -> str:
    return f"（联合任务中{payload['part']}的部分）" if payload.get("part") else ""


def _done(payload: Mapping[str, Any], labels: Labels) -> str:
    if payload.get("backfill"):
        source = payload.get("source") or "命令行"
        row = f"第 {payload['row']} 行" if payload.get("row") else ""
        return (
            f"补录完成情况（{payload.get('completed_on') or '—'} 完成，来源 {source}{row}）：{_report(payload, labels)}"
        )
    return f"提交完成报告{_part(payload)}：{_report(payload, labels)}"


def _part_done(payload: Mapping[str, Any], labels: Labels) -> str:
    done = payload.get("parts_done") or []
    required = payload.get("parts_required") or []
    return (
        f"提交完成报告{_part(payload)}：{_report(payload, labels)}；已交 {len(done)}/{len(required)} 方，任务尚未办结"
    )


def _planned(payload: Mapping[str, Any], _labels: Labels) -> str:
    counts = [
        ("created", "新建"),
        ("updated", "调整"),
        ("cancelled", "取消"),
        ("restored", "恢复"),
        ("untracked", "列为不跟踪的历史"),
        ("tracked", "恢复跟踪"),
    ]
    changes = "、".join(f"{word} {payload[key]} 项" for key, word in counts if payload.get(key))
    total = payload.get("occurrences")
    text = f"生成协议计划{_version(payload)}{_amendment(payload)}：{changes or '无变化'}"
    return text + (f"；共 {total} 项任务" if total is not None else "")


def _replanned(payload: Mapping[str, Any], _labels: Labels) -> str:
    return f"随协议{_version(payload)}调整任务{_amendment(payload)}：{_moved(payload) or '内容调整'}"


def _cancelled(payload: Mapping[str, Any], _labels: Labels) -> str:
    if payload.get("operation") == "cancel" or "version" not in payload:
        previous = payload.get("previous_status")
        was = f"（原状态：{status_label(str(previous))}）" if previous else ""
        return f"取消任务{was}{_reason(payload)}"
    return f"随协议{_version(payload)}修订取消任务{_amendment(payload)}{_reason(payload)}"


def _restored(payload: Mapping[str, Any], _labels: Labels) -> str:
    moved = _moved(payload)
    return f"随协议{_version(payload)}修订恢复任务{_amendment(payload)}" + (f"：{moved}" if moved else "")


def _untracked(payload: Mapping[str, Any], _labels: Labels) -> str:
    return f"列为不跟踪的历史记录（跟踪起始日 {payload.get('tracking_from') or '—'}）：不算逾期、不督办、不计入完成率"


def _tracked(payload: Mapping[str, Any], _labels: Labels) -> str:
    return f"恢复跟踪{_reason(payload)}"


def _progress(payload: Mapping[str, Any], labels: Labels) -> str:
    return f"报告进展{_part(payload)}：{_report(payload, labels)}"


def _cannot(payload: Mapping[str, Any], labels: Labels) -> str:
    return f"报告无法完成{_part(payload)}：{_report(payload, labels)}"


def _waived(payload: Mapping[str, Any], _labels: Labels) -> str:
    previous = payload.get("previous_status")
    was = f"（原状态：{status_label(str(previous))}）" if previous else ""
    return f"豁免任务{was}{_reason(payload)}"


def _ids(payload: Mapping[str, Any]) -> str:
    ids = [f"#{i}" for i in payload.get("occurrence_ids") or []]
    shown = "、".join(ids[:10]) + (f" 等 {len(ids)} 项" if len(ids) > 10 else "")
    return f"任务 {shown}" if ids else "任务"


def _sweep_due(payload: Mapping[str, Any], _labels: Labels) -> str:
    return f"每日状态更新（{payload.get('today') or '—'}）：{_ids(payload)} 进入办理期"


def _sweep_overdue(payload: Mapping[str, Any], _labels: Labels) -> str:
    return f"每日状态更新（{payload.get('today') or '—'}）：{_ids(payload)} 已过截止日期，记为逾期"


def _status_change(payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(payload.get("before") or {}), dict(payload.get("after") or {})


def _extended(payload: Mapping[str, Any], _labels: Labels) -> str:
    before, after = _status_change(payload)
    return f"延期：截止日期 {before.get('due_date') or '—'} → {after.get('due_date') or '—'}{_reason(payload)}"


def _suspended(payload: Mapping[str, Any], _labels: Labels) -> str:
    _, after = _status_change(payload)
    return f"暂停任务（自 {after.get('since') or '—'} 起停止计算逾期）{_reason(payload)}"


def _resumed(payload: Mapping[str, Any], _labels: Labels) -> str:
    before, after = _status_change(payload)
    days = payload.get("days_suspended")
    paused = f"暂停 {days} 天后" if days is not None else ""
    due = f"截止日期 {before.get('due_date') or '—'} → {after.get('due_date') or '—'}"
    return f"{paused}恢复任务，{due}，状态：{status_label(str(after.get('status') or ''))}{_reason(payload)}"


def _reopened(payload: Mapping[str, Any], _labels: Labels) -> str:
    before, after = _status_change(payload)
    closed = str(before.get("closed_at") or "")[:10]
    was = f"（原于 {closed} 办结）" if closed else ""
    return f"重新打开已完成任务{was}，状态：{status_label(str(after.get('status') or ''))}{_reason(payload)}"


def _reassigned(payload: Mapping[str, Any], _labels: Labels) -> str:
    before, after = _status_change(payload)
    return f"改派责任部门：{before.get('department') or '—'} → {after.get('department') or '—'}{_reason(payload)}"


def _opened(payload: Mapping[str, Any], _labels: Labels) -> str:
    return (
        f"按需开启第{payload.get('clause') or '—'}条任务，由 {payload.get('department') or '—'} 办理，"
        f"办理期 {payload.get('window_start') or '—'} 至 {payload.get('due_date') or '—'}{_reason(payload)}"
    )


def _token_issued(payload: Mapping[str, Any], _labels: Labels) -> str:
    role = str(payload.get("role") or "")
    who = payload.get("person") or payload.get("department") or payload.get("label") or ""
    scope = payload.get("agreements") or []
    limited = f"，限协议 {'、'.join(map(str, scope))}" if scope else ""
    expires = str(payload.get("expires_at") or "")[:10]
    until = f"，有效期至 {expires}" if expires else ""
    return f"签发{ROLE_NAMES.get(role, role)}令牌 #{payload.get('token_id')}：{who}{limited}{until}"


def _token_revoked(payload: Mapping[str, Any], _labels: Labels) -> str:
    role = str(payload.get("role") or "")
    who = payload.get("person") or payload.get("label") or ""
    return f"撤销{ROLE_NAMES.get(role, role)}令牌 #{payload.get('token_id')}：{who}{_reason(payload)}"


def _feed_issued(payload: Mapping[str, Any], _labels: Labels) -> str:
    return f"签发日历订阅链接：{payload.get('scope') or '—'}（第 {payload.get('version')} 版）"


def _feed_revoked(payload: Mapping[str, Any], _labels: Labels) -> str:
    return (
        f"撤销日历订阅链接：{payload.get('scope') or '—'}（第 {payload.get('revoked_version')} 版起失效，"
        f"现为第 {payload.get('version')} 版）{_reason(payload)}"
    )


def _requeued(payload: Mapping[str, Any], _labels: Labels) -> str:
    return f"重新发送 {payload.get('count', len(payload.get('outbox_ids') or []))} 条死信通知"


_TELLERS: dict[str, Callable[[Mapping[str, Any], Labels], str]] = {
    "agreement_planned": _planned,
    "occurrence_replanned": _replanned,
    "occurrence_cancelled": _cancelled,
    "occurrence_restored": _restored,
    "occurrence_untracked": _untracked,
    "occurrence_tracked": _tracked,
    "occurrence_done": _done,
    "occurrence_part_done": _part_done,
    "occurrence_progress": _progress,
    "occurrence_cannot_do": _cannot,
    "occurrence_waived": _waived,
    "sweep_due": _sweep_due,
    "sweep_overdue": _sweep_overdue,
    "occurrence_extended": _extended,
    "occurrence_suspended": _suspended,
    "occurrence_resumed": _resumed,
    "occurrence_reopened": _reopened,
    "occurrence_reassigned": _reassigned,
    "occurrence_opened": _opened,
    "token_issued": _token_issued,
    "token_revoked": _token_revoked,
    "calendar_feed_issued": _feed_issued,
    "calendar_feed_revoked": _feed_revoked,
    "outbox_requeued": _requeued,
}
# Every kind the ledger writes (issue 15: `coop audit history` showed raw JSON); the tests hold the list to this.
TOLD_KINDS = frozenset(_TELLERS)
