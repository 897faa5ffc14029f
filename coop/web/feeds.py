"""Calendar feeds: `GET /ical/<token>.ics`, the signed iCalendar URL a department (or coordinator) subscribes to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from coop.services.feeds import feed_ics
from coop.web.deps import SettingsDep
from coop.web.schemas import ErrorOut

router = APIRouter(tags=["部门 department"])


@router.get(
    "/ical/{token}.ics",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}, "description": "iCalendar 订阅内容"},
        404: {"model": ErrorOut},
        410: {"model": ErrorOut},
    },
)
def calendar_feed(token: Annotated[str, Path(max_length=400)], settings: SettingsDep) -> Response:
    """日历订阅（Outlook、企业微信、Apple 日历）：本部门未办结的任务，或协调人的一项协议；撤销后返回 410。"""
    body = feed_ics(settings.database_url, settings, token)
    return Response(body, media_type="text/calendar; charset=utf-8")
