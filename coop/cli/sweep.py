"""`coop sweep`: move statuses on (planned → due → overdue) as of one day."""

from __future__ import annotations

from coop.cli._common import TodayOpt, console, database, day, user_errors
from coop.services.sweep import sweep_statuses
from coop.settings import get_settings


def sweep(today: TodayOpt = None) -> None:
    """更新任务状态（进入办理期 / 逾期） — sweep statuses."""
    settings = get_settings()
    with user_errors():
        result = sweep_statuses(database(settings), day(today), settings.actor)
    console.print(f"{result.became_due} 项进入办理期，{result.became_overdue} 项逾期")
