"""Audit use cases: rates, overdue lists, target progress, histories, exports (ledger verification: `verification`).

The CLI (`coop audit …`), the auditor API (`coop/web/audit.py`) and the `audit-report` flow all call these, so the
audit day (`as_of`) and the read-only login are decided here once. Every query runs on a read-only connection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlmodel import Session

from coop import evidence as files
from coop.agreement.schema import Agreement
from coop.audit import GROUP_LABELS, AuditSummary, GroupBy, TermPlan, summarise_states, summary_markdown
from coop.charts import RateBar, rates_chart_markdown
from coop.clock import today_in_shanghai
from coop.dashboard import DashboardFigures, dashboard_figures
from coop.errors import CoopError
from coop.export import ExportFormat, csv_chunks, state_row, write_xlsx
from coop.history import event_sentence
from coop.notify.channels import redact
from coop.settings import Settings
from coop.store import audit as store
from coop.store import evidence as evidence_store
from coop.store.audit import AuditFilter, ClauseHistory, OccurrenceHistory
from coop.store.outbox import OutboxRow
from coop.store.outbox import dead_letters as stored_dead_letters
from coop.summary import dead_letters_markdown
from coop.verification import LedgerAudit
from models.db import readonly_session_scope

EARLIEST = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class AuditDay:
    """The day an audit looks at (its end, Asia/Shanghai) and the day it is asked on."""

    as_of: dt.date
    today: dt.date

    @property
    def from_ledger(self) -> bool:
        """A past day is rebuilt from the ledger; today the stored statuses are the answer."""
        return self.as_of < self.today


def audit_day(as_of: dt.date | None = None, today: dt.date | None = None) -> AuditDay:
    """`as_of` (default today) checked: an audit cannot look at a day that has not ended yet, nor before 1970."""
    today = today or today_in_shanghai()
    day = as_of or today
    if day > today:
        raise CoopError(f"审计基准日 {day} 晚于今天 {today} (as_of is in the future)")
    if day < EARLIEST:
        raise CoopError(f"审计基准日 {day} 早于 {EARLIEST} (as_of before 1970)")
    return AuditDay(day, today)


def history_day(as_of: dt.date | None) -> dt.date | None:
    """A history's `as_of`, checked like an audit day (a far-future date would overflow the day's end)."""
    return None if as_of is None else audit_day(as_of).as_of


def check_filter(flt: AuditFilter) -> AuditFilter:
    """A department filter is `单位/部门` or a department id in ASCII digits ('²' and '①' are digits to Python)."""
    department = flt.department
    if department is not None and "/" not in department and not (department.isascii() and department.isdigit()):
        raise CoopError("部门应写作“单位/部门”或阿拉伯数字的部门编号 (department must be party/department or an id)")
    return flt


def group_by(value: str) -> GroupBy:
    """A grouping name typed by a person, checked against the groupings the report knows."""
    if value not in GROUP_LABELS:
        raise CoopError(f"分组只能是 {' / '.join(GROUP_LABELS)}（收到 '{value}'）")
    return cast(GroupBy, value)


@dataclass(frozen=True)
class AuditorLogin:
    """Where audit queries connect: `switch_role` = log in with the writer's URL, then become the SELECT-only role."""

    url: str
    switch_role: bool


def auditor_login(settings: Settings, database_url: str | None = None) -> AuditorLogin:
    """The read-only login: `database_url` (e.g. a flow parameter) as the auditor role; else the dedicated
    COOP_AUDITOR_DATABASE_URL as given; else COOP_DATABASE_URL as the auditor role (SQLite: mode=ro)."""
    if database_url:
        return AuditorLogin(database_url, switch_role=True)
    if settings.auditor_database_url:
        return AuditorLogin(settings.auditor_database_url, switch_role=False)
    return AuditorLogin(settings.database_url, switch_role=True)


def _tz(settings: Settings) -> ZoneInfo:
    """The deployment's time zone: an audit day ends at midnight there."""
    return ZoneInfo(settings.timezone)


def auditor_session(settings: Settings, database_url: str | None = None) -> AbstractContextManager[Session]:
    """One read-only transaction on the auditor login: any write fails in the database itself."""
    login = auditor_login(settings, database_url)
    return readonly_session_scope(login.url, switch_role=login.switch_role)


def summarise(
    settings: Settings,
    flt: AuditFilter,
    day: AuditDay,
    by: GroupBy = "agreement",
    overdue_limit: int = 200,
    database_url: str | None = None,
) -> AuditSummary:
    """Rates per group, the oldest overdue items (at most `overdue_limit`) and target progress, in one streamed pass."""
    check_filter(flt)
    with auditor_session(settings, database_url) as session:
        states = store.occurrence_states(session, flt, day.as_of, from_ledger=day.from_ledger, tz=_tz(settings))
        summary = summarise_states(states, day.as_of, by, max(0, overdue_limit))
        agreements = {flt.agreement} if flt.agreement else {a for a, _ in summary.seen}
        plans = term_plans(store.agreement_documents(session, agreements))
    summary.filters = {k: v for k, v in flt.__dict__.items() if v is not None}
    narrower = (flt.programme, flt.clause, flt.party, flt.department, flt.due_from, flt.due_to)
    return summary.with_terms(plans, whole=all(v is None for v in narrower))


def term_plans(documents: dict[str, dict[str, Any]]) -> dict[str, TermPlan]:
    """The term targets and metric names of each agreement, from the text its current plan follows."""
    return {agreement_id: TermPlan.of(Agreement.model_validate(doc)) for agreement_id, doc in documents.items()}


def occurrence_history(
    settings: Settings, occurrence_id: int, as_of: dt.date | None = None, database_url: str | None = None
) -> OccurrenceHistory:
    """Every ledger event about one occurrence up to the end of `as_of` (default: all)."""
    as_of = history_day(as_of)
    with auditor_session(settings, database_url) as session:
        return store.occurrence_history(session, occurrence_id, as_of, tz=_tz(settings))


def clause_history(
    settings: Settings, agreement_id: str, clause: str, as_of: dt.date | None = None, database_url: str | None = None
) -> ClauseHistory:
    """The agreement's plan events and every event of the clause's occurrences, up to the end of `as_of`."""
    as_of = history_day(as_of)
    with auditor_session(settings, database_url) as session:
        return store.clause_history(session, agreement_id, clause, as_of, tz=_tz(settings))


def dashboard(
    settings: Settings, flt: AuditFilter, day: AuditDay, overdue_limit: int = 100, database_url: str | None = None
) -> DashboardFigures:
    """The dashboard's figures (rates per department, party, programme and month, the overdue heat map, the oldest
    overdue tasks, term targets) from one streamed pass, on the same read-only login as `summarise`."""
    check_filter(flt)
    with auditor_session(settings, database_url) as session:
        states = store.occurrence_states(session, flt, day.as_of, from_ledger=day.from_ledger, tz=_tz(settings))
        figures = dashboard_figures(states, day.as_of, max(0, overdue_limit))
        agreements = {flt.agreement} if flt.agreement else {a for a, _ in figures.summary.seen}
        plans = term_plans(store.agreement_documents(session, agreements))
    figures.summary.filters = {k: v for k, v in flt.__dict__.items() if v is not None}
    narrower = (flt.programme, flt.clause, flt.party, flt.department, flt.due_from, flt.due_to)
    figures.summary.with_terms(plans, whole=all(v is None for v in narrower))
    return figures


@dataclass(frozen=True)
class ToldHistory:
    """A task's history and each of its events told as a Chinese sentence (`coop.history`), in the same order."""

    history: OccurrenceHistory
    sentences: list[str]


def told_occurrence_history(
    settings: Settings, occurrence_id: int, as_of: dt.date | None = None, database_url: str | None = None
) -> ToldHistory:
    """`occurrence_history` with a sentence per event, metrics named as the task's agreement names them."""
    as_of = history_day(as_of)
    with auditor_session(settings, database_url) as session:
        history = store.occurrence_history(session, occurrence_id, as_of, tz=_tz(settings))
        labels = _metric_labels(session, history.agreement_id)
    return ToldHistory(history, sentences(history.events, settings, labels))


def sentences(events: list[Any], settings: Settings, labels: dict[str, str] | None = None) -> list[str]:
    """Each event as `2026-03-02 09:14 who did what, evidence n`, on the deployment's clock."""
    tz = _tz(settings)
    return [event_sentence(e, tz, labels) for e in events]


def history_labels(settings: Settings, agreement_id: str, database_url: str | None = None) -> dict[str, str]:
    """The metric names an agreement uses (`metric_labels:`) for telling its history."""
    with auditor_session(settings, database_url) as session:
        return _metric_labels(session, agreement_id)


def _metric_labels(session: Session, agreement_id: str) -> dict[str, str]:
    document = store.agreement_documents(session, [agreement_id]).get(agreement_id) or {}
    return {str(k): str(v) for k, v in (document.get("metric_labels") or {}).items()}


def export_rows(
    settings: Settings, flt: AuditFilter, day: AuditDay, database_url: str | None = None
) -> Iterator[list[Any]]:
    """One export row per matching occurrence, streamed; the read-only session is open while the rows are read.

    Check the filter with `check_filter` before a response starts: this generator runs only once it is read."""
    check_filter(flt)
    with auditor_session(settings, database_url) as session:
        plans = term_plans(store.agreement_documents(session, [flt.agreement] if flt.agreement else None))
        for state in store.occurrence_states(session, flt, day.as_of, from_ledger=day.from_ledger, tz=_tz(settings)):
            yield state_row(state, plans.get(state.agreement_id))


def export_format(target: Path) -> ExportFormat:
    """The export format a file name asks for (.csv or .xlsx)."""
    suffix = target.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".xlsx":
        return "xlsx"
    raise CoopError(f"输出文件应以 .csv 或 .xlsx 结尾（收到 {target.name}）")


def export_file(
    settings: Settings, flt: AuditFilter, day: AuditDay, target: Path, database_url: str | None = None
) -> int:
    """Write the export to `target` (format from its suffix), row by row; returns the number of rows."""
    fmt = export_format(target)
    rows = export_rows(settings, flt, day, database_url)
    if fmt == "xlsx":
        return write_xlsx(rows, target)
    count = 0

    def counted() -> Iterator[list[Any]]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    with target.open("wb") as handle:
        for chunk in csv_chunks(counted()):
            handle.write(chunk)
    return count


def dead_letters(settings: Settings, database_url: str | None = None) -> list[OutboxRow]:
    """Notifications that gave up, newest first, as the audit report lists them."""
    with auditor_session(settings, database_url) as session:
        return stored_dead_letters(session)


@dataclass(frozen=True)
class EvidenceDownload:
    path: Path
    content_type: str
    filename: str


def evidence_download(settings: Settings, sha256: str) -> EvidenceDownload | None:
    """A stored evidence file by its hash, or None when it is unknown or missing on disk."""
    with auditor_session(settings) as session:
        row = evidence_store.get(session, sha256)
    path = files.path_for(settings.evidence_dir, sha256)
    if row is None or not path.exists():
        return None
    return EvidenceDownload(path, row.content_type, row.filename)


def report_markdown(summary: AuditSummary, verification: LedgerAudit, dead: list[OutboxRow]) -> str:
    """The audit report in Chinese Markdown with its rates chart (an embedded SVG) and the dead letters (their
    channel URLs redacted)."""
    return "\n".join(
        [summary_markdown(summary, verification), rates_chart(summary), redact(dead_letters_markdown(dead))]
    )


def rates_chart(summary: AuditSummary) -> str:
    """Completion and on-time rate per group of the report (department, programme, … as it is grouped), drawn."""
    bars = [RateBar(r.group, r.completion_rate, r.on_time_rate, r.expected) for r in summary.groups]
    return rates_chart_markdown(f"按{GROUP_LABELS[summary.group_by]}的完成率与按时率（图）", bars)
