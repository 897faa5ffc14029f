"""Follow the State Council: re-plan agreements whose calendar data changed since their last plan.

When `chinesecalendar` ships a new year, or the overrides file gets the published notice (`official: [2027]`), the
calendar data version (`coop.services.preparing.calendar_version`) differs from the one stored with an agreement's
plan (`agreement.calendar_version`). `refresh_calendar` then re-plans that agreement from its stored text (not the
file, whose unplanned edits are not the calendar's business) under the amendment rules with today as the effective
date: only open occurrences due today or later move, provisional flags clear where official data now exists, and
each department hears of its moved dates in one digest. The `refresh-calendar` deployment runs it weekly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlmodel import Session, col

from coop.agreement.loader import LoadedAgreement, content_hash
from coop.agreement.schema import Agreement
from coop.calendar import WorkdayCalendar
from coop.errors import CoopError
from coop.notify.policy import clause_policies, plan_notice_rows
from coop.notify.results import BatchResult
from coop.planning import PlanChange, PlanResult
from coop.services.notifications import batch_notices
from coop.services.preparing import calendar_version, expand_checked
from coop.settings import Settings
from coop.store.plans import apply_plan
from coop.store.rows import insert_new
from models.db import session_scope
from models.tables import OPEN_STATUSES, AgreementRecord, AgreementVersion, ClauseRecord, Notice, Occurrence

ACTOR = "日历更新 (refresh-calendar)"


@dataclass
class AgreementRefresh:
    """One agreement whose calendar data changed: what its re-plan did, or why it could not run."""

    agreement_id: str
    before: str | None
    after: str
    result: PlanResult | None = None
    provisional_cleared: int = 0
    error: str | None = None

    @property
    def moved(self) -> list[PlanChange]:
        return [c for c in (self.result.changes if self.result else []) if c.kind == "moved"]


@dataclass
class CalendarRefresh:
    """What one refresh run found and did."""

    today: dt.date
    checked: int = 0
    refreshed: list[AgreementRefresh] = field(default_factory=list)
    notified: BatchResult | None = None

    @property
    def moved(self) -> int:
        return sum(len(r.moved) for r in self.refreshed)

    @property
    def provisional_cleared(self) -> int:
        return sum(r.provisional_cleared for r in self.refreshed)

    @property
    def failed(self) -> list[AgreementRefresh]:
        return [r for r in self.refreshed if r.error]

    def lines(self) -> list[str]:
        """The run in Chinese, agreement by agreement, with the moved dates (from → to)."""
        if not self.refreshed:
            return [f"日历数据未变：已检查 {self.checked} 份协议，无需重新计划。"]
        out = [
            f"日历数据已更新：{len(self.refreshed)}/{self.checked} 份协议重新计划（自 {self.today} 起生效），"
            f"调整日期 {self.moved} 项，取消暂定标记 {self.provisional_cleared} 项。"
        ]
        for r in self.refreshed:
            if r.error:
                out.append(f"- {r.agreement_id}：未能重新计划：{r.error}")
                continue
            out.append(f"- {r.agreement_id}：调整日期 {len(r.moved)} 项，取消暂定标记 {r.provisional_cleared} 项")
            out += [f"  - {c.line()}" for c in r.moved]
        if self.notified is not None:
            out.append(f"已通知：{self.notified.notices} 条通知合并为 {self.notified.messages} 条消息。")
        return out


def refresh_calendar(
    database_url: str, today: dt.date, settings: Settings, *, actor: str = ACTOR, notify: bool = True
) -> CalendarRefresh:
    """Re-plan every agreement planned with other calendar data than is installed now; one transaction each.

    The calendar is read afresh (not the process's cached one), so an overrides file edited in place counts.
    With `notify`, the pending notices (moved dates among them) are queued as one digest per department.
    """
    calendar = WorkdayCalendar(settings.calendar_overrides)
    run = CalendarRefresh(today)
    for agreement_id, stored_version, document, path in _planned_agreements(database_url):
        run.checked += 1
        try:
            loaded = _loaded(document, path)
        except ValidationError as exc:  # the stored text predates a stricter format: say so, go on with the others
            error = f"最近一次计划的文本不再通过校验（{exc.error_count()} 处问题），请重新计划该协议文件"
            run.refreshed.append(AgreementRefresh(agreement_id, stored_version, "", error=error))
            continue
        now = calendar_version(loaded, settings, calendar)
        if stored_version == now:
            continue
        entry = AgreementRefresh(agreement_id, stored_version, now)
        run.refreshed.append(entry)
        try:
            planned = expand_checked(loaded, settings, calendar)
            with session_scope(database_url) as session:
                provisional = _open_provisional(session, agreement_id, today)
                entry.result = apply_plan(
                    session, loaded, planned, today, actor, now, notify_horizon_days=settings.notify_horizon_days
                )
                entry.provisional_cleared = max(0, provisional - _open_provisional(session, agreement_id, today))
                _tell_far_moves(session, loaded, entry, today, settings.notify_horizon_days)
        except CoopError as exc:  # one agreement's bad data does not stop the others; the run reports it
            entry.error = str(exc)
    if notify and any(r.moved for r in run.refreshed):
        with session_scope(database_url) as session:
            run.notified = batch_notices(session, today)
    return run


def _planned_agreements(database_url: str) -> list[tuple[str, str | None, dict[str, object], str]]:
    """(id, stored calendar version, latest planned text, file path) of every planned agreement."""
    with session_scope(database_url) as session:
        rows = session.execute(
            select(
                col(AgreementRecord.id),
                col(AgreementRecord.calendar_version),
                col(AgreementVersion.document),
                col(AgreementRecord.path),
            )
            .join(
                AgreementVersion,
                (col(AgreementVersion.agreement_id) == col(AgreementRecord.id))
                & (col(AgreementVersion.version) == col(AgreementRecord.version)),
            )
            .order_by(AgreementRecord.id)
        ).all()
    return [(r[0], r[1], dict(r[2]), r[3]) for r in rows]


def _loaded(document: dict[str, object], path: str) -> LoadedAgreement:
    """The agreement as last planned, from its stored text; its hash is the one that plan stored."""
    agreement = Agreement.model_validate(document)
    return LoadedAgreement(agreement, path, content_hash(agreement))


def _open_provisional(session: Session, agreement_id: str, today: dt.date) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(Occurrence)
            .where(
                col(Occurrence.agreement_id) == agreement_id,
                col(Occurrence.provisional).is_(True),
                col(Occurrence.status).in_(OPEN_STATUSES),
                col(Occurrence.due_date) >= today,
            )
        ).scalar_one()
    )


def _tell_far_moves(
    session: Session, loaded: LoadedAgreement, entry: AgreementRefresh, today: dt.date, horizon_days: int
) -> None:
    """The plan tells of changes within the notification horizon; a calendar refresh moves dates months ahead
    (the 2027 notice comes out in November), which departments must hear of now, in the same digest."""
    horizon = today + dt.timedelta(days=horizon_days)
    keys = [c.key for c in entry.moved if c.due_after is not None and c.due_after > horizon]
    if not keys or entry.result is None:
        return
    rows = session.execute(
        select(col(Occurrence.id), col(Occurrence.department_id), col(Occurrence.due_date), col(ClauseRecord.code))
        .join(ClauseRecord, col(ClauseRecord.id) == col(Occurrence.clause_id))
        .where(col(Occurrence.agreement_id) == loaded.agreement.id, col(Occurrence.key).in_(keys))
    ).all()
    upcoming = [(oid, dept, due, code) for oid, dept, due, code in rows]
    notices = plan_notice_rows(
        upcoming,
        {oid for oid, *_ in upcoming},
        [],
        today,
        clause_policies(loaded.agreement),
        version=entry.result.version,
    )
    insert_new(session, Notice, notices, "dedup_key")
