"""One digest item with every field filled, for the notification tests to vary (`replace`) rather than retype."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from coop.notify.digest import DigestItem


def sample_item(occurrence_id: int, notice: str, due: date, **changes: object) -> DigestItem:
    """A meeting of 渝北区商务委 in 产业协同 2.1, due (and opening) on `due`; `changes` override any field."""
    base = DigestItem(
        occurrence_id=occurrence_id,
        agreement_title="川渝毗邻地区合作框架协议",
        programme_title="产业协同",
        clause_id="2.1",
        clause_title="联合招商推介会",
        kind_label="会议",
        due_date=due,
        window_start=due,
        host="广安市",
        location="渝北区政务服务中心",
        evidence=["会议纪要", "签到表"],
        targets={"participants": 30},
        provisional=False,
        notice=notice,  # type: ignore[arg-type]
        days_overdue=0,
        report_url=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]
